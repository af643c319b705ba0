package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/outbox"
)

// relayMode is how the gormkit drain contender runs its relays.
type relayMode int

const (
	// drainOnce: -relays goroutines each run Relay.DrainOnce until a claim
	// comes back empty; the clock stops when every one has returned, so every
	// message has been marked delivered. The analog of the hand-written loop.
	drainOnce relayMode = iota
	// runRelays: -relays goroutines run Relay.Run, the long-running mode;
	// the clock stops when the handlers have seen every message and the
	// table holds none pending. The analog of a started river client.
	runRelays
)

// gormkitDrain: n messages enqueued up front, then drained by the relay
// with a no-op handler.
func (b *bench) gormkitDrain(name string, s dbSpec, mode relayMode) *contender {
	var g *gormkitOutbox
	var relay *outbox.Relay
	var mu sync.Mutex
	var totals outbox.Counts
	var handled atomic.Int64
	var stop context.CancelFunc
	var running sync.WaitGroup
	return &contender{
		name: name,
		setup: func(ctx context.Context) (err error) {
			if g, err = b.newGormkitOutbox(ctx, s); err != nil {
				return err
			}
			relay, err = outbox.NewRelay(g.box, outbox.RelayConfig{
				BatchSize:    drainBatchSize,
				PollInterval: drainPollInterval,
				Logger:       quietLogger,
			})
			if err != nil {
				return err
			}
			return relay.Handle(outbox.KindJob, outbox.AnyName, func(context.Context, outbox.Message) error {
				handled.Add(1)
				return nil
			})
		},
		prepare: func(ctx context.Context, n int) error {
			if err := g.clear(ctx); err != nil {
				return err
			}
			totals = outbox.Counts{}
			handled.Store(0)
			base := backlogStart()
			const chunk = 1000
			for lo := 0; lo < n; lo += chunk {
				msgs := make([]outbox.NewMessage, 0, chunk)
				for i := lo; i < min(lo+chunk, n); i++ {
					m := orderMessage(newOrder(i))
					m.AvailableAt = backlogTime(base, i)
					msgs = append(msgs, m)
				}
				if _, err := g.box.Enqueue(ctx, msgs...); err != nil {
					return err
				}
			}
			return analyze(ctx, g.db.Gorm, s.dialect, g.box.Table())
		},
		run: func(ctx context.Context, n int) error {
			if mode == runRelays {
				var rctx context.Context
				rctx, stop = context.WithCancel(ctx)
				for range b.o.drainLoops {
					running.Go(func() { _ = relay.Run(rctx) })
				}
				return waitFor(ctx, drainTimeout, time.Millisecond, "the relays to deliver every message", func(ctx context.Context) (bool, error) {
					if handled.Load() < int64(n) {
						return false, nil
					}
					st, err := g.box.Stats(ctx)
					return err == nil && st.Pending == 0, err
				})
			}
			return parallel(ctx, b.o.drainLoops, b.o.drainLoops, func(ctx context.Context, _, _ int) error {
				c, err := relay.DrainOnce(ctx)
				mu.Lock()
				totals.Claimed += c.Claimed
				totals.Delivered += c.Delivered
				totals.Lost += c.Lost
				mu.Unlock()
				return err
			})
		},
		check: func(ctx context.Context, n int) error {
			if mode == runRelays {
				stop()
				running.Wait()
				if got := handled.Load(); got != int64(n) {
					return fmt.Errorf("handlers saw %d of %d messages", got, n)
				}
				return g.expectOutbox(ctx, 0, n)
			}
			if totals.Delivered != n || totals.Lost != 0 {
				return fmt.Errorf("relay delivered %d of %d (claimed %d, lost %d)", totals.Delivered, n, totals.Claimed, totals.Lost)
			}
			return g.expectOutbox(ctx, 0, n)
		},
		teardown: func(context.Context) error { return g.close() },
	}
}

// backlogStart is the available_at of the first pre-inserted message. A
// backlog built by many transactions has a distinct time per message, so
// message i becomes available at backlogStart + i µs, an hour ago: every
// contender's claim walks its index in order instead of sorting a group of
// equal times.
func backlogStart() time.Time { return time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond) }

func backlogTime(base time.Time, i int) time.Time {
	return base.Add(time.Duration(i) * time.Microsecond)
}

// analyze refreshes the planner statistics of a freshly filled backlog
// table, untimed, for every drain contender alike. Without it the plans
// depend on whether autovacuum happened to analyze the table during the
// run: see the report notes for what stale statistics cost.
func analyze(ctx context.Context, db *gorm.DB, d gormkit.Dialect, table string) error {
	var stmt string
	switch d {
	case gormkit.Postgres:
		stmt = "ANALYZE " + quoteIdent(d, table)
	case gormkit.MySQL:
		stmt = "ANALYZE TABLE " + quoteIdent(d, table)
	default:
		stmt = "ANALYZE " + quoteIdent(d, table)
	}
	return db.WithContext(ctx).Exec(stmt).Error
}
