package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/models"
)

// handwritten is the drain loop a team would write by hand on
// database/sql, on a table of the same shape as gormkit's outbox: claim a
// batch (FOR UPDATE SKIP LOCKED on servers, UPDATE … RETURNING on SQLite)
// setting lease, token and attempts, run the no-op handler, then mark the
// whole batch delivered in one statement compared on the token. It has no
// routing, retries, dead letters or shutdown handling: it is the floor the
// library's overhead is measured against.
type handwritten struct {
	db    *gormkit.DB
	d     gormkit.Dialect
	raw   string // table name
	table string // quoted
}

func (b *bench) handwrittenDrain(name string, s dbSpec) *contender {
	var h *handwritten
	var delivered atomic.Int64
	return &contender{
		name: name,
		setup: func(ctx context.Context) error {
			db, err := b.openDB(ctx, s)
			if err != nil {
				return err
			}
			raw := b.env.table(s.dialect, "outbox_"+s.label)
			h = &handwritten{db: db, d: s.dialect, raw: raw, table: quoteIdent(s.dialect, raw)}
			stmts, err := models.SetupStatements(string(s.dialect), models.OutboxTable, raw)
			if err != nil {
				return err
			}
			for _, q := range stmts {
				if _, err := db.SQL.ExecContext(ctx, q); err != nil {
					return err
				}
			}
			return nil
		},
		prepare: func(ctx context.Context, n int) error {
			delivered.Store(0)
			if err := clearTable(ctx, h.db.Gorm, h.d, h.raw); err != nil {
				return err
			}
			if err := h.insert(ctx, n); err != nil {
				return err
			}
			return analyze(ctx, h.db.Gorm, h.d, h.raw)
		},
		run: func(ctx context.Context, n int) error {
			return parallel(ctx, b.o.drainLoops, b.o.drainLoops, func(ctx context.Context, _, _ int) error {
				for {
					k, err := h.step(ctx)
					if err != nil || k == 0 {
						return err
					}
					delivered.Add(int64(k))
				}
			})
		},
		check: func(ctx context.Context, n int) error {
			if got := delivered.Load(); got != int64(n) {
				return fmt.Errorf("delivered %d of %d", got, n)
			}
			var left int
			if err := h.db.SQL.QueryRowContext(ctx, "SELECT count(*) FROM "+h.table+" WHERE status <> 'delivered'").Scan(&left); err != nil {
				return err
			}
			if left != 0 {
				return fmt.Errorf("%d messages not delivered", left)
			}
			return nil
		},
		teardown: func(context.Context) error {
			if h == nil {
				return nil
			}
			return h.db.Close()
		},
	}
}

// ph returns the i-th (1-based) bind placeholder.
func (h *handwritten) ph(i int) string {
	if h.d == gormkit.Postgres {
		return "$" + strconv.Itoa(i)
	}
	return "?"
}

// insert writes n pending messages, 500 a statement, untimed.
func (h *handwritten) insert(ctx context.Context, n int) error {
	const chunk = 500
	base := backlogStart()
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		var q strings.Builder
		q.WriteString("INSERT INTO " + h.table + " (id, kind, name, payload, status, attempts, max_attempts, available_at, created_at, updated_at) VALUES ")
		args := make([]any, 0, (hi-lo)*10)
		for i := lo; i < hi; i++ {
			if i > lo {
				q.WriteByte(',')
			}
			q.WriteByte('(')
			for c := range 10 {
				if c > 0 {
					q.WriteByte(',')
				}
				q.WriteString(h.ph(len(args) + c + 1))
			}
			q.WriteByte(')')
			id, err := uuid.NewV7()
			if err != nil {
				return err
			}
			at := backlogTime(base, i)
			args = append(args, id.String(), "job", "order_placed", string(mustJSON(newOrder(i))), "pending", 0, 10, at, at, at)
		}
		if _, err := h.db.SQL.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

type claimed struct {
	id, name string
	payload  []byte
}

// step claims one batch, handles it and marks it delivered; it returns the
// batch size.
func (h *handwritten) step(ctx context.Context) (int, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	token := uuid.NewString()
	batch, err := h.claim(ctx, now, now.Add(30*time.Second), token)
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	ids := make([]any, len(batch))
	for i, m := range batch {
		_ = m.payload // the no-op handler
		ids[i] = m.id
	}
	done := time.Now().UTC().Truncate(time.Microsecond)
	var res sql.Result
	if h.d == gormkit.Postgres {
		strs := make([]string, len(batch))
		for i := range batch {
			strs[i] = batch[i].id
		}
		res, err = h.db.SQL.ExecContext(ctx, "UPDATE "+h.table+" SET status = 'delivered', delivered_at = $1, updated_at = $1, locked_until = NULL "+
			"WHERE id = ANY($2) AND claim_token = $3 AND status = 'pending'", done, strs, token)
	} else {
		res, err = h.db.SQL.ExecContext(ctx, "UPDATE "+h.table+" SET status = 'delivered', delivered_at = ?, updated_at = ?, locked_until = NULL "+
			"WHERE id IN ("+placeholders(len(ids))+") AND claim_token = ? AND status = 'pending'", append(append([]any{done, done}, ids...), token)...)
	}
	if err != nil {
		return 0, err
	}
	if k, _ := res.RowsAffected(); int(k) != len(batch) {
		return 0, fmt.Errorf("marked %d of %d delivered", k, len(batch))
	}
	return len(batch), nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

const claimable = "status = 'pending' AND available_at <= %[1]s AND (locked_until IS NULL OR locked_until <= %[1]s)"

func (h *handwritten) claim(ctx context.Context, now, until time.Time, token string) ([]claimed, error) {
	switch h.d {
	case gormkit.Postgres:
		rows, err := h.db.SQL.QueryContext(ctx, "WITH next AS MATERIALIZED (SELECT id FROM "+h.table+" WHERE "+fmt.Sprintf(claimable, "$1")+
			" ORDER BY available_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) UPDATE "+h.table+" AS o SET attempts = o.attempts + 1, locked_until = $3, claim_token = $4, updated_at = $1 "+
			"FROM next WHERE o.id = next.id RETURNING o.id, o.name, o.payload", now, drainBatchSize, until, token)
		return scanClaimed(rows, err)
	case gormkit.SQLite:
		// One statement is atomic on SQLite; the write lock makes claims
		// take turns.
		rows, err := h.db.SQL.QueryContext(ctx, "UPDATE "+h.table+" SET attempts = attempts + 1, locked_until = ?, claim_token = ?, updated_at = ? "+
			"WHERE id IN (SELECT id FROM "+h.table+" WHERE "+fmt.Sprintf(claimable, "?")+" ORDER BY available_at, id LIMIT ?) RETURNING id, name, payload",
			until, token, now, now, now, drainBatchSize)
		return scanClaimed(rows, err)
	}
	// MySQL/MariaDB: lock the rows, then claim them by id, in one short
	// READ COMMITTED transaction (no gap locks).
	tx, err := h.db.SQL.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, "SELECT id, name, payload FROM "+h.table+" WHERE "+fmt.Sprintf(claimable, "?")+
		" ORDER BY available_at, id LIMIT ? FOR UPDATE SKIP LOCKED", now, now, drainBatchSize)
	batch, err := scanClaimed(rows, err)
	if err != nil || len(batch) == 0 {
		return nil, err
	}
	args := []any{until, token, now}
	for _, m := range batch {
		args = append(args, m.id)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+h.table+" SET attempts = attempts + 1, locked_until = ?, claim_token = ?, updated_at = ? WHERE id IN ("+placeholders(len(batch))+")", args...); err != nil {
		return nil, err
	}
	return batch, tx.Commit()
}

func scanClaimed(rows *sql.Rows, err error) ([]claimed, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]claimed, 0, drainBatchSize)
	for rows.Next() {
		var c claimed
		if err := rows.Scan(&c.id, &c.name, &c.payload); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, errors.Join(rows.Err(), rows.Close())
}

// quoteIdent quotes a possibly schema-qualified table name.
func quoteIdent(d gormkit.Dialect, name string) string {
	q := `"`
	if d == gormkit.MySQL {
		q = "`"
	}
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = q + p + q
	}
	return strings.Join(parts, ".")
}
