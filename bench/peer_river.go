package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// River settings of the drain scenario, as River's own throughput advice
// has them: many workers and a short fetch cooldown.
const (
	riverMaxWorkers    = 100
	riverFetchCooldown = 2 * time.Millisecond
)

// riverPeer is river on its own pgx pool, migrated into its own schema.
type riverPeer struct {
	once   sync.Once
	err    error
	pool   *pgxpool.Pool
	schema string
	quiet  *slog.Logger
}

func (b *bench) river(ctx context.Context) (*riverPeer, error) {
	p := b.riverState
	p.once.Do(func() {
		p.schema = b.env.riverSchema
		p.quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
		cfg, err := pgxpool.ParseConfig(b.env.pgURL)
		if err != nil {
			p.err = err
			return
		}
		cfg.MaxConns = serverPoolSize
		if p.pool, p.err = pgxpool.NewWithConfig(ctx, cfg); p.err != nil {
			return
		}
		b.env.onCleanup(func(context.Context) error { p.pool.Close(); return nil })
		migrator, err := rivermigrate.New(riverpgxv5.New(p.pool), &rivermigrate.Config{Schema: p.schema, Logger: p.quiet})
		if err != nil {
			p.err = err
			return
		}
		if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			p.err = fmt.Errorf("rivermigrate up: %w", err)
		}
	})
	return p, p.err
}

func (p *riverPeer) truncateJobs(ctx context.Context) error {
	_, err := p.pool.Exec(ctx, "TRUNCATE "+p.schema+".river_job")
	return err
}

// riverEnqueue: the business insert and river's InsertTx in one pgx
// transaction, as a river user on pgx writes it.
func (b *bench) riverEnqueue(name string) *contender {
	var p *riverPeer
	var client *river.Client[pgx.Tx]
	orders := b.env.table("postgres", "orders_river")
	return &contender{
		name: name,
		setup: func(ctx context.Context) error {
			var err error
			if p, err = b.river(ctx); err != nil {
				return err
			}
			// An insert-only client: no queues, never started.
			client, err = river.NewClient(riverpgxv5.New(p.pool), &river.Config{Schema: p.schema, Logger: p.quiet})
			if err != nil {
				return err
			}
			_, err = p.pool.Exec(ctx, ordersDDL(orders))
			return err
		},
		prepare: func(ctx context.Context, _ int) error {
			if _, err := p.pool.Exec(ctx, "TRUNCATE "+orders); err != nil {
				return err
			}
			return p.truncateJobs(ctx)
		},
		run: func(ctx context.Context, n int) error {
			return parallel(ctx, n, b.o.workers, func(ctx context.Context, _, i int) error {
				return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
					o := newOrder(i)
					if err := tx.QueryRow(ctx, "INSERT INTO "+orders+" (customer, amount, created_at) VALUES ($1, $2, $3) RETURNING id",
						o.Customer, o.Amount, time.Now()).Scan(&o.OrderID); err != nil {
						return err
					}
					_, err := client.InsertTx(ctx, tx, o, nil)
					return err
				})
			})
		},
		check: func(ctx context.Context, n int) error {
			return expectCount(ctx, p.pool, "SELECT count(*) FROM "+p.schema+".river_job", n)
		},
	}
}

// riverDrain: n jobs inserted up front with InsertManyFast (COPY), then a
// started client with no-op workers works them; the clock stops when every
// job is marked completed in the database.
func (b *bench) riverDrain(name string) *contender {
	var p *riverPeer
	var client *river.Client[pgx.Tx]
	var worked atomic.Int64
	return &contender{
		name: name,
		setup: func(ctx context.Context) error {
			var err error
			p, err = b.river(ctx)
			return err
		},
		prepare: func(ctx context.Context, n int) error {
			if err := p.truncateJobs(ctx); err != nil {
				return err
			}
			worked.Store(0)
			workers := river.NewWorkers()
			river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[orderPlaced]) error {
				worked.Add(1)
				return nil
			}))
			var err error
			client, err = river.NewClient(riverpgxv5.New(p.pool), &river.Config{
				Schema:        p.schema,
				Logger:        p.quiet,
				Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: riverMaxWorkers}},
				FetchCooldown: riverFetchCooldown,
				Workers:       workers,
			})
			if err != nil {
				return err
			}
			const chunk = 5000
			for lo := 0; lo < n; lo += chunk {
				params := make([]river.InsertManyParams, 0, chunk)
				for i := lo; i < min(lo+chunk, n); i++ {
					params = append(params, river.InsertManyParams{Args: newOrder(i)})
				}
				if _, err := client.InsertManyFast(ctx, params); err != nil {
					return err
				}
			}
			_, err = p.pool.Exec(ctx, "ANALYZE "+p.schema+".river_job")
			return err
		},
		run: func(ctx context.Context, n int) error {
			if err := client.Start(ctx); err != nil {
				return err
			}
			return waitFor(ctx, drainTimeout, time.Millisecond, "river to complete every job", func(ctx context.Context) (bool, error) {
				if worked.Load() < int64(n) {
					return false, nil
				}
				var left int
				err := p.pool.QueryRow(ctx, "SELECT count(*) FROM "+p.schema+".river_job WHERE state <> 'completed'").Scan(&left)
				return left == 0, err
			})
		},
		check: func(ctx context.Context, n int) error {
			stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := client.Stop(stopCtx); err != nil {
				return err
			}
			if w := worked.Load(); w != int64(n) {
				return fmt.Errorf("river worked %d jobs, want %d", w, n)
			}
			return nil
		},
	}
}

// expectCount fails unless query returns want.
func expectCount(ctx context.Context, pool *pgxpool.Pool, query string, want int) error {
	var got int
	if err := pool.QueryRow(ctx, query).Scan(&got); err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s: got %d, want %d", query, got, want)
	}
	return nil
}

// ordersDDL creates the business table of the enqueue scenario on Postgres.
func ordersDDL(table string) string {
	return "CREATE TABLE IF NOT EXISTS " + table + " (id bigserial PRIMARY KEY, customer text NOT NULL, amount bigint NOT NULL, created_at timestamptz NOT NULL)"
}
