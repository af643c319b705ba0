package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/callbacks"
	"github.com/gormkit/gormkit/outbox"
)

// Settings shared by every drain contender, so that gormkit and the
// hand-written loop claim the same batches with the same number of loops.
const (
	serverPoolSize    = 20 // gormkit's default pool for servers; the peers get the same
	drainBatchSize    = outbox.DefaultBatchSize
	drainPollInterval = 10 * time.Millisecond
	drainTimeout      = 10 * time.Minute
)

// order is the business row of the enqueue and idempotency scenarios.
type order struct {
	ID        int64 `gorm:"primaryKey"`
	Customer  string
	Amount    int64
	CreatedAt time.Time
}

// dbSpec says how a contender opens its database.
type dbSpec struct {
	dialect gormkit.Dialect
	driver  gormkit.SQLiteDriver // SQLite only; nil is the pure-Go default
	label   string               // SQLite file name stem; table name stem
}

// openDB opens the contender's own handle. SQLite gets a fresh file.
func (b *bench) openDB(ctx context.Context, s dbSpec, obs ...callbacks.Observer) (*gormkit.DB, error) {
	if s.dialect == gormkit.SQLite {
		return gormkit.Open(ctx, gormkit.Config{
			URL:            b.env.sqliteURL(s.label),
			SQLite:         gormkit.SQLiteConfig{Driver: s.driver},
			QueryObservers: obs,
		})
	}
	return b.env.open(ctx, s.dialect, serverPoolSize, obs...)
}

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// gormkitOutbox is a gormkit handle with a migrated outbox table and a
// business table of its own.
type gormkitOutbox struct {
	db     *gormkit.DB
	box    *outbox.Outbox
	orders string // business table
	idem   string // idempotency table
}

func (b *bench) newGormkitOutbox(ctx context.Context, s dbSpec, obs ...callbacks.Observer) (*gormkitOutbox, error) {
	db, err := b.openDB(ctx, s, obs...)
	if err != nil {
		return nil, err
	}
	tables := gormkit.TableNames{
		Outbox:      b.env.table(s.dialect, "outbox_"+s.label),
		Idempotency: b.env.table(s.dialect, "idem_"+s.label),
	}
	g := &gormkitOutbox{db: db, orders: b.env.table(s.dialect, "orders_"+s.label), idem: tables.Idempotency}
	if err := gormkit.AutoMigrate(db.Gorm, tables); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := db.Gorm.Table(g.orders).AutoMigrate(&order{}); err != nil {
		_ = db.Close()
		return nil, err
	}
	if g.box, err = outbox.New(db.Gorm, outbox.Config{Table: tables.Outbox}); err != nil {
		_ = db.Close()
		return nil, err
	}
	return g, nil
}

// clear empties the outbox and business tables between runs.
func (g *gormkitOutbox) clear(ctx context.Context) error {
	for _, t := range []string{g.box.Table(), g.orders} {
		if err := clearTable(ctx, g.db.Gorm, g.db.Dialect, t); err != nil {
			return err
		}
	}
	return nil
}

func clearTable(ctx context.Context, db *gorm.DB, d gormkit.Dialect, table string) error {
	stmt := "TRUNCATE TABLE " + quoteIdent(d, table)
	if d == gormkit.SQLite {
		stmt = "DELETE FROM " + quoteIdent(d, table)
	}
	return db.WithContext(ctx).Exec(stmt).Error
}

func (g *gormkitOutbox) close() error {
	if g == nil || g.db == nil {
		return nil
	}
	return g.db.Close()
}

func (g *gormkitOutbox) expectOutbox(ctx context.Context, pending, delivered int) error {
	st, err := g.box.Stats(ctx)
	if err != nil {
		return err
	}
	if st.Pending != int64(pending) || st.Delivered != int64(delivered) || st.DeadLettered != 0 {
		return fmt.Errorf("outbox holds %d pending, %d delivered, %d dead letters; want %d pending, %d delivered",
			st.Pending, st.Delivered, st.DeadLettered, pending, delivered)
	}
	return nil
}

// createOrder is the business insert every GORM contender runs: one order
// row through GORM on tx, whose ID it records in o.
func createOrder(tx *gorm.DB, table string, o *orderPlaced) error {
	row := order{Customer: o.Customer, Amount: o.Amount, CreatedAt: time.Now()}
	if err := tx.Table(table).Create(&row).Error; err != nil {
		return err
	}
	o.OrderID = row.ID
	return nil
}

func orderMessage(o orderPlaced) outbox.NewMessage {
	return outbox.NewMessage{Kind: outbox.KindJob, Name: o.Kind(), Payload: o}
}

// gormkitEnqueue: the business insert with GORM and outbox.EnqueueTx in
// one GORM transaction.
func (b *bench) gormkitEnqueue(name string, s dbSpec) *contender {
	var g *gormkitOutbox
	return &contender{
		name:     name,
		setup:    func(ctx context.Context) (err error) { g, err = b.newGormkitOutbox(ctx, s); return err },
		prepare:  func(ctx context.Context, _ int) error { return g.clear(ctx) },
		teardown: func(context.Context) error { return g.close() },
		run: func(ctx context.Context, n int) error {
			return parallel(ctx, n, b.o.workers, func(ctx context.Context, _, i int) error {
				return g.db.Gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
					o := newOrder(i)
					if err := createOrder(tx, g.orders, &o); err != nil {
						return err
					}
					_, err := g.box.EnqueueTx(ctx, tx, orderMessage(o))
					return err
				})
			})
		},
		check: func(ctx context.Context, n int) error { return g.expectOutbox(ctx, n, 0) },
	}
}

// orderPorts is the unit of work's port set: a repository on the
// transaction that records a domain event per order.
type orderPorts struct {
	tx     *gorm.DB
	table  string
	events gormkit.EventRecorder
}

func (p orderPorts) place(o orderPlaced) error {
	if err := createOrder(p.tx, p.table, &o); err != nil {
		return err
	}
	p.events.Record(gormkit.Event{Name: o.Kind(), Payload: o})
	return nil
}

// gormkitUnitOfWork: the same write through gormkit's unit of work, whose
// recorded event the outbox's EventWriter stores before commit.
func (b *bench) gormkitUnitOfWork(name string, s dbSpec) *contender {
	var g *gormkitOutbox
	var uow *gormkit.UnitOfWork[orderPorts]
	return &contender{
		name: name,
		setup: func(ctx context.Context) (err error) {
			if g, err = b.newGormkitOutbox(ctx, s); err != nil {
				return err
			}
			uow = gormkit.NewUnitOfWork(g.db.Gorm, func(tx *gorm.DB, ev gormkit.EventRecorder) orderPorts {
				return orderPorts{tx: tx, table: g.orders, events: ev}
			}, gormkit.WithEventWriter(g.box.EventWriter()))
			return nil
		},
		prepare:  func(ctx context.Context, _ int) error { return g.clear(ctx) },
		teardown: func(context.Context) error { return g.close() },
		run: func(ctx context.Context, n int) error {
			return parallel(ctx, n, b.o.workers, func(ctx context.Context, _, i int) error {
				return uow.Transaction(ctx, func(_ context.Context, p orderPorts) error { return p.place(newOrder(i)) })
			})
		},
		check: func(ctx context.Context, n int) error { return g.expectOutbox(ctx, n, 0) },
	}
}

// gormBusinessOnly is the enqueue baseline: the business insert alone in a
// GORM transaction.
func (b *bench) gormBusinessOnly(name string, s dbSpec) *contender {
	var g *gormkitOutbox
	return &contender{
		name:     name,
		setup:    func(ctx context.Context) (err error) { g, err = b.newGormkitOutbox(ctx, s); return err },
		prepare:  func(ctx context.Context, _ int) error { return g.clear(ctx) },
		teardown: func(context.Context) error { return g.close() },
		run: func(ctx context.Context, n int) error {
			return parallel(ctx, n, b.o.workers, func(ctx context.Context, _, i int) error {
				return g.db.Gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
					o := newOrder(i)
					return createOrder(tx, g.orders, &o)
				})
			})
		},
	}
}
