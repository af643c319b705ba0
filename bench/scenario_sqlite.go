package main

import (
	"context"
	"fmt"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/sqlitecgo"
)

// Contender names of the SQLite driver scenario.
const (
	sqlitePure = "glebarez/sqlite (pure Go, default)"
	sqliteCgo  = "gorm.io/driver/sqlite (cgo, sqlitecgo.Driver)"
)

// sqliteDrivers runs scenario 5: gormkit's outbox scenarios on a SQLite
// file with the pure-Go default driver and with the cgo driver.
func (b *bench) sqliteDrivers(ctx context.Context) error {
	pure := func(label string) dbSpec { return dbSpec{dialect: gormkit.SQLite, label: label + "_pure"} }
	cgo := func(label string) dbSpec {
		return dbSpec{dialect: gormkit.SQLite, driver: sqlitecgo.Driver, label: label + "_cgo"}
	}

	if why := b.unavailable(gormkit.SQLite); why != "" {
		fmt.Fprintf(b.out, "\n### 5. SQLite drivers\n\nskipped: %s\n", why)
		return nil
	}
	enq := &table{title: "5. SQLite drivers — transactional enqueue (insert + outbox.EnqueueTx)", metric: cost, refs: []string{sqlitePure}, env: "SQLite file, WAL, immediate transactions"}
	n := b.o.enqueueOps
	b.measure(ctx, enq, n, max(n/10, 50),
		b.gormkitEnqueue(sqlitePure, pure("sqlite_enq")),
		b.gormkitEnqueue(sqliteCgo, cgo("sqlite_enq")))
	enq.notes = append(enq.notes, fmt.Sprintf("%d concurrent callers (-workers); SQLite runs one writer at a time.", b.o.workers))
	b.print(enq)

	drain := &table{title: "5. SQLite drivers — drain (gormkit relay)", metric: rate, refs: []string{sqlitePure}, env: "SQLite file, WAL, immediate transactions"}
	m := b.o.messages
	b.measure(ctx, drain, m, max(m/20, 200),
		b.gormkitDrain(sqlitePure, pure("sqlite_drain"), drainOnce),
		b.gormkitDrain(sqliteCgo, cgo("sqlite_drain"), drainOnce))
	drain.notes = append(drain.notes, fmt.Sprintf("%d messages pre-inserted per run; %d DrainOnce loops, batches of %d.", m, b.o.drainLoops, drainBatchSize))
	b.print(drain)

	b.sum.set("sqlite-cgo-enqueue", enq.ratio(sqliteCgo, sqlitePure))
	b.sum.set("sqlite-cgo-drain", drain.ratio(sqliteCgo, sqlitePure))
	return nil
}
