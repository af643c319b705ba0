package main

import (
	"context"
	"fmt"

	"github.com/gormkit/gormkit"
)

// Contender names of the drain scenario.
const (
	drainRiver   = "river (no-op workers)"
	drainWater   = "watermill-sql subscriber"
	drainRaw     = "hand-written SQL loop"
	drainGormkit = "gormkit relay (DrainOnce)"
	drainRun     = "gormkit relay (Run)"
)

// drain runs scenario 3: throughput of working off a backlog of
// pre-inserted messages with no-op handlers. Postgres carries the peer
// comparison; SQLite and MariaDB compare gormkit with the hand-written loop
// on that database.
func (b *bench) drain(ctx context.Context) error {
	n := b.o.messages
	warm := max(n/20, 200)
	setup := fmt.Sprintf("%d messages pre-inserted before each run (untimed); the clock runs until all are marked done in the database. "+
		"gormkit and the hand-written loop: %d concurrent claim loops (-relays), batches of %d (gormkit's default), %d handler goroutines per gormkit batch (its default); "+
		"river: MaxWorkers %d, FetchCooldown %s; watermill-sql: one subscriber, one consumer group, select batches of %d. Pools of %d connections.",
		n, b.o.drainLoops, drainBatchSize, 4, riverMaxWorkers, riverFetchCooldown, drainBatchSize, serverPoolSize)

	pg := &table{title: "3. Drain throughput — PostgreSQL", metric: rate, refs: []string{drainRiver, drainRaw}, env: b.env.describe(gormkit.Postgres)}
	cs := []*contender{
		b.riverDrain(drainRiver),
		b.watermillDrain(drainWater),
		b.handwrittenDrain(drainRaw, dbSpec{dialect: gormkit.Postgres, label: "drain_raw"}),
		b.gormkitDrain(drainGormkit, dbSpec{dialect: gormkit.Postgres, label: "drain_gormkit"}, drainOnce),
		b.gormkitDrain(drainRun, dbSpec{dialect: gormkit.Postgres, label: "drain_run"}, runRelays),
	}
	b.skipUnless(gormkit.Postgres, cs...)
	b.measure(ctx, pg, n, warm, cs...)
	pg.notes = append(pg.notes, setup)
	b.print(pg)
	// Long-running consumers against Relay.Run; loops that stop when the
	// backlog is empty against DrainOnce.
	b.sum.set("drain-vs-river", pg.ratio(drainRun, drainRiver))
	b.sum.set("drain-vs-raw", pg.ratio(drainGormkit, drainRaw))
	b.sum.set("drain-vs-watermill", pg.ratio(drainRun, drainWater))

	for _, d := range []gormkit.Dialect{gormkit.SQLite, gormkit.MySQL} {
		t := &table{title: "3. Drain throughput — " + dialectTitle(d, false), metric: rate, refs: []string{drainRaw}, env: b.env.describe(d)}
		cs := []*contender{
			b.handwrittenDrain(drainRaw, dbSpec{dialect: d, label: "drain_raw"}),
			b.gormkitDrain(drainGormkit, dbSpec{dialect: d, label: "drain_gormkit"}, drainOnce),
		}
		b.skipUnless(d, cs...)
		b.measure(ctx, t, n, warm, cs...)
		t.notes = append(t.notes, setup)
		b.print(t)
		key := "drain-sqlite-vs-raw"
		if d == gormkit.MySQL {
			key = "drain-mariadb-vs-raw"
		}
		b.sum.set(key, t.ratio(drainGormkit, drainRaw))
	}
	return nil
}

// skipUnless marks cs skipped when d's server is not configured or -db
// leaves d out.
func (b *bench) skipUnless(d gormkit.Dialect, cs ...*contender) {
	why := b.unavailable(d)
	if why == "" {
		return
	}
	for _, c := range cs {
		c.skip = why
	}
}

// unavailable says why dialect d does not run, or "" when it does.
func (b *bench) unavailable(d gormkit.Dialect) string {
	if b.o.dbs != nil && !b.o.dbs[d] {
		return "not selected by -db"
	}
	if !b.env.has(d) {
		return b.env.skipReason(d)
	}
	return ""
}
