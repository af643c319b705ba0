package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/gormkit/gormkit/models"
)

// sqliteSQL claims with UPDATE … RETURNING (SQLite 3.35+). A write
// statement takes SQLite's single write lock when it starts, so the select
// and the update of one statement are one atomic step without an explicit
// transaction, and a competing writer waits on busy_timeout.
//
// The claim is kept to what the common case needs, because the default
// driver prepares every statement anew (it has no statement cache, so
// prepared statements do not help) and most of a claim's cost is SQLite
// work per row:
//
//   - The claim assigns neither status nor any other column of an index,
//     so SQLite rewrites only the table row, not the claim index entry.
//     It skips the exhausted rows of its window (attempts >= max_attempts)
//     instead of dead-lettering them with conditional assignments.
//   - When the claim returns k < limit rows (a short backlog, an idle
//     poll, or exhausted rows in its window), a second statement
//     dead-letters the exhausted rows among the oldest limit - k claimable
//     ones, which are the rest of the claim's window unless an older row
//     became claimable in between. A full batch had none in its window,
//     so busy claims skip it. An exhausted row is never run, and is
//     dead-lettered by the first claim whose window holds it. Each
//     statement is atomic on its own: the claim never takes an exhausted
//     row and the dead-lettering touches no other, so nothing holds
//     between them that would need a transaction.
//   - RETURNING reads only the message's columns; locked_until and the
//     token are the bound values. Unary + (a no-op on any value) drops a
//     column's declared type, so the driver neither looks it up for every
//     text value nor parses times: they come back as the stored text and
//     are parsed after the statement ends, outside the write lock.
type sqliteSQL struct{}

// sqliteClaimReturning are the columns a SQLite claim reads back, in
// scanSQLiteClaimed's order.
const sqliteClaimReturning = "+id, +kind, +name, +payload, +headers, attempts, max_attempts, +available_at, +created_at"

func (sqliteSQL) claim(ctx context.Context, o *Outbox, p claimParams) ([]claimedRow, error) {
	db := o.db.WithContext(ctx)
	window := " WHERE id IN (SELECT id FROM " + o.table + " WHERE " + claimableWhere + " ORDER BY available_at, id LIMIT ?)"
	q := "UPDATE " + o.table + " SET attempts = attempts + 1, locked_until = ?, claim_token = ?, updated_at = ?" +
		window + " AND attempts < max_attempts RETURNING " + sqliteClaimReturning
	rows, err := db.Raw(q, p.lockedUntil, p.token, p.now, p.now, p.now, p.limit).Rows()
	if err != nil {
		return nil, err
	}
	out, err := scanSQLiteClaimed(rows)
	if err != nil || len(out) >= p.limit {
		return out, err
	}
	dl := "UPDATE " + o.table + " SET status = " + sqlDeadLettered + ", dead_lettered_at = ?," +
		" last_error = CASE WHEN locked_until IS NULL THEN last_error ELSE ? END, locked_until = NULL, claim_token = NULL, updated_at = ?" +
		window + " AND attempts >= max_attempts RETURNING id"
	var dead []string
	if err := db.Raw(dl, p.now, reasonLeaseExpired, p.now, p.now, p.now, p.limit-len(out)).Scan(&dead).Error; err != nil {
		return nil, fmt.Errorf("dead-letter exhausted messages: %w", err)
	}
	for _, id := range dead {
		out = append(out, claimedRow{msg: Message{ID: id}, status: StatusDeadLettered})
	}
	return out, nil
}

// scanSQLiteClaimed reads sqliteClaimReturning rows. The statement holds
// the write lock until its last row is read, so decoding waits until then.
func scanSQLiteClaimed(rows *sql.Rows) ([]claimedRow, error) {
	defer rows.Close()
	type raw struct {
		payload, headers   models.JSON
		available, created string
	}
	var (
		out  []claimedRow
		raws []raw
	)
	for rows.Next() {
		var (
			r claimedRow
			w raw
		)
		if err := rows.Scan(&r.msg.ID, &r.msg.Kind, &r.msg.Name, &w.payload, &w.headers,
			&r.msg.Attempt, &r.msg.MaxAttempts, &w.available, &w.created); err != nil {
			return nil, err
		}
		r.status = StatusPending
		out = append(out, r)
		raws = append(raws, w)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	for i := range out {
		m, w := &out[i].msg, &raws[i]
		var err error
		if m.AvailableAt, err = parseSQLiteTime(w.available); err != nil {
			return nil, err
		}
		if m.CreatedAt, err = parseSQLiteTime(w.created); err != nil {
			return nil, err
		}
		m.Payload = json.RawMessage(w.payload)
		m.decodeHeaders(w.headers)
	}
	return out, nil
}

func (sqliteSQL) purgeSQL(table string) string { return purgeByIDSubquery(table) }

// maxInsertRows is small on SQLite: the driver matches each bind parameter
// to its argument by a linear search, so one statement's cost grows with
// the square of its parameters, and in-process statements are cheap anyway.
func (sqliteSQL) maxInsertRows() int { return 100 }
