package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/models"
)

// Contender names of the enqueue scenario.
const (
	enqBaseline = "business insert alone (GORM tx)"
	enqGormkit  = "gormkit: insert + outbox.EnqueueTx (GORM tx)"
	enqUoW      = "gormkit: unit of work + outbox EventWriter"
	enqRiver    = "river: insert + InsertTx (pgx tx)"
	enqWater    = "watermill-sql: insert + Publish (database/sql tx)"
	enqPgx      = "reference: business insert alone (pgx tx)"
	enqStdSQL   = "reference: business insert alone (database/sql tx)"
	enqStdRow   = "reference: insert + the same outbox row (database/sql tx, no GORM)"
)

// enqueue runs scenario 2 on Postgres: a business insert plus one message
// in one transaction, each tool on the stack its users write it on.
func (b *bench) enqueue(ctx context.Context) error {
	t := &table{
		title:  "2. Transactional enqueue — PostgreSQL",
		metric: cost,
		refs:   []string{enqBaseline, enqRiver},
		env:    b.env.describe(gormkit.Postgres),
	}
	n := b.o.enqueueOps
	cs := []*contender{
		b.gormBusinessOnly(enqBaseline, dbSpec{dialect: gormkit.Postgres, label: "enq_base"}),
		b.gormkitEnqueue(enqGormkit, dbSpec{dialect: gormkit.Postgres, label: "enq_gormkit"}),
		b.gormkitUnitOfWork(enqUoW, dbSpec{dialect: gormkit.Postgres, label: "enq_uow"}),
		b.riverEnqueue(enqRiver),
		b.watermillEnqueue(enqWater),
		b.pgxBusinessOnly(enqPgx),
		b.stdSQLBusinessOnly(enqStdSQL),
		b.stdSQLOutboxRow(enqStdRow),
	}
	b.skipUnless(gormkit.Postgres, cs...)
	b.measure(ctx, t, n, max(n/10, 50), cs...)
	t.notes = append(t.notes, fmt.Sprintf("One op = one transaction: INSERT an order row, enqueue one JSON message for it, COMMIT. %d concurrent callers (-workers), pools of %d connections. "+
		"Each tool runs on the stack its users write it on (gormkit on GORM, river on a pgx pool, watermill-sql on database/sql); the first two reference rows give the bare cost of each stack, so the enqueue itself costs a row's figure minus its stack's reference; "+
		"the last writes gormkit's outbox row by hand, separating gormkit's own cost from the cost of its row.",
		b.o.workers, serverPoolSize))
	b.print(t)
	b.sum.set("enqueue-vs-river", t.ratio(enqGormkit, enqRiver))
	b.sum.set("enqueue-vs-watermill", t.ratio(enqGormkit, enqWater))
	return nil
}

func (b *bench) pgxBusinessOnly(name string) *contender {
	var p *riverPeer
	orders := b.env.table(gormkit.Postgres, "orders_pgx")
	return &contender{
		name: name,
		setup: func(ctx context.Context) error {
			var err error
			if p, err = b.river(ctx); err != nil {
				return err
			}
			_, err = p.pool.Exec(ctx, ordersDDL(orders))
			return err
		},
		prepare: func(ctx context.Context, _ int) error {
			_, err := p.pool.Exec(ctx, "TRUNCATE "+orders)
			return err
		},
		run: func(ctx context.Context, n int) error {
			return parallel(ctx, n, b.o.workers, func(ctx context.Context, _, i int) error {
				return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
					o := newOrder(i)
					return tx.QueryRow(ctx, "INSERT INTO "+orders+" (customer, amount, created_at) VALUES ($1, $2, $3) RETURNING id",
						o.Customer, o.Amount, time.Now()).Scan(&o.OrderID)
				})
			})
		},
	}
}

func (b *bench) stdSQLBusinessOnly(name string) *contender {
	var p *watermillPeer
	orders := b.env.table(gormkit.Postgres, "orders_stdsql")
	return &contender{
		name: name,
		setup: func(ctx context.Context) error {
			var err error
			if p, err = b.watermill(ctx); err != nil {
				return err
			}
			_, err = p.db.ExecContext(ctx, ordersDDL(orders))
			return err
		},
		prepare: func(ctx context.Context, _ int) error {
			_, err := p.db.ExecContext(ctx, "TRUNCATE "+orders)
			return err
		},
		run: func(ctx context.Context, n int) error {
			return parallel(ctx, n, b.o.workers, func(ctx context.Context, _, i int) error {
				return inStdTx(ctx, p.db, func(tx *sql.Tx) error {
					o := newOrder(i)
					return tx.QueryRowContext(ctx, "INSERT INTO "+orders+" (customer, amount, created_at) VALUES ($1, $2, $3) RETURNING id",
						o.Customer, o.Amount, time.Now()).Scan(&o.OrderID)
				})
			})
		},
	}
}

// stdSQLOutboxRow writes the same outbox row gormkit writes, with the same
// bind values, through database/sql without GORM: the difference to the
// gormkit row is the library's own cost, the difference to watermill-sql
// the cost of the wider row and its second index.
func (b *bench) stdSQLOutboxRow(name string) *contender {
	var p *watermillPeer
	orders := b.env.table(gormkit.Postgres, "orders_stdsql_outbox")
	box := b.env.table(gormkit.Postgres, "outbox_stdsql")
	insert := "INSERT INTO " + quoteIdent(gormkit.Postgres, box) +
		" (id, kind, name, payload, headers, status, attempts, max_attempts, available_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
	return &contender{
		name: name,
		setup: func(ctx context.Context) error {
			var err error
			if p, err = b.watermill(ctx); err != nil {
				return err
			}
			stmts, err := models.SetupStatements("postgres", models.OutboxTable, box)
			if err != nil {
				return err
			}
			for _, q := range append(stmts, ordersDDL(orders)) {
				if _, err := p.db.ExecContext(ctx, q); err != nil {
					return err
				}
			}
			return nil
		},
		prepare: func(ctx context.Context, _ int) error {
			_, err := p.db.ExecContext(ctx, "TRUNCATE "+orders+", "+quoteIdent(gormkit.Postgres, box))
			return err
		},
		run: func(ctx context.Context, n int) error {
			return parallel(ctx, n, b.o.workers, func(ctx context.Context, _, i int) error {
				return inStdTx(ctx, p.db, func(tx *sql.Tx) error {
					o := newOrder(i)
					now := time.Now().UTC().Truncate(time.Microsecond)
					if err := tx.QueryRowContext(ctx, "INSERT INTO "+orders+" (customer, amount, created_at) VALUES ($1, $2, $3) RETURNING id",
						o.Customer, o.Amount, now).Scan(&o.OrderID); err != nil {
						return err
					}
					id, err := uuid.NewV7()
					if err != nil {
						return err
					}
					_, err = tx.ExecContext(ctx, insert, id.String(), "job", o.Kind(), string(mustJSON(o)), nil, "pending", 0, 10, now, now, now)
					return err
				})
			})
		},
	}
}
