package gormkit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/callbacks"
)

func ExampleOpen() {
	ctx := context.Background()
	db, err := gormkit.Open(ctx, gormkit.Config{URL: ":memory:", Name: "orders"})
	if err != nil {
		panic(err)
	}
	defer db.Close()

	var answer int
	if err := db.Gorm.Raw("SELECT 6 * 7").Scan(&answer).Error; err != nil {
		panic(err)
	}
	fmt.Println(db.Dialect, db.Provider, db.Name, answer)
	// Output: sqlite gormkit-sqlite orders 42
}

func ExampleOpen_errors() {
	_, err := gormkit.Open(context.Background(), gormkit.Config{URL: "libsql://my-db.turso.io"})
	fmt.Println(err)
	// Output: gormkit: Config.URL: remote libSQL/Turso URLs are not supported; use a local SQLite file (file:app.db), PostgreSQL or MySQL
}

func ExampleNewPlugin() {
	db, err := gormkit.Open(context.Background(), gormkit.Config{URL: ":memory:"})
	if err != nil {
		panic(err)
	}
	defer db.Close()

	rec := callbacks.NewRecorder(16)
	if err := db.Gorm.Use(gormkit.NewPlugin(gormkit.WithObservers(rec))); err != nil {
		panic(err)
	}

	type Note struct {
		ID   int
		Body string
	}
	_ = db.Gorm.Exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)").Error
	_ = db.Gorm.Create(&Note{Body: "card 4242"}).Error
	var notes []Note
	_ = db.Gorm.Where("body = ?", "card 4242").Find(&notes).Error
	_ = db.Gorm.First(&Note{}, 99).Error // not found is not an error event

	for _, e := range rec.Events() {
		fmt.Printf("%s table=%q params=%d rows=%d err=%v redacted=%t\n",
			e.Operation, e.Table, e.ParamCount, e.RowsAffected, e.Err, e.Params == nil)
	}
	// Output:
	// raw table="" params=0 rows=0 err=<nil> redacted=true
	// create table="notes" params=1 rows=1 err=<nil> redacted=true
	// query table="notes" params=1 rows=1 err=<nil> redacted=true
	// query table="notes" params=1 rows=0 err=<nil> redacted=true
}

// Ports are the transaction-scoped repositories of the example.
type Ports struct {
	Orders *Orders
}

// Orders is a repository writing with the transaction handle.
type Orders struct {
	tx     *gorm.DB
	events gormkit.EventRecorder
}

func (o *Orders) Place(ctx context.Context, id string) error {
	if err := o.tx.WithContext(ctx).Exec("INSERT INTO orders (id) VALUES (?)", id).Error; err != nil {
		return err
	}
	o.events.Record(gormkit.Event{Name: "order.placed", Payload: id})
	return nil
}

func ExampleNewUnitOfWork() {
	ctx := context.Background()
	db, err := gormkit.Open(ctx, gormkit.Config{URL: ":memory:"})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	_ = db.Gorm.Exec("CREATE TABLE orders (id TEXT PRIMARY KEY)").Error

	bus := gormkit.EventBusFunc(func(_ context.Context, events []gormkit.Event) error {
		for _, e := range events {
			fmt.Println("published", e.Name, e.Payload)
		}
		return nil
	})
	uow := gormkit.NewUnitOfWork(db.Gorm, func(tx *gorm.DB, events gormkit.EventRecorder) Ports {
		return Ports{Orders: &Orders{tx: tx, events: events}}
	}, gormkit.WithEventBus(bus))

	err = uow.Transaction(ctx, func(ctx context.Context, p Ports) error {
		if err := p.Orders.Place(ctx, "o-1"); err != nil {
			return err
		}
		fmt.Println("placed o-1, not yet published")
		return p.Orders.Place(ctx, "o-2")
	})
	fmt.Println("commit:", err)

	err = uow.Transaction(ctx, func(ctx context.Context, p Ports) error {
		if err := p.Orders.Place(ctx, "o-3"); err != nil {
			return err
		}
		return errors.New("payment declined")
	})
	fmt.Println("rollback:", err)

	var count int
	_ = db.Gorm.Raw("SELECT COUNT(*) FROM orders").Scan(&count).Error
	fmt.Println("orders stored:", count)
	// Output:
	// placed o-1, not yet published
	// published order.placed o-1
	// published order.placed o-2
	// commit: <nil>
	// rollback: payment declined
	// orders stored: 2
}

func ExampleTransact() {
	ctx := context.Background()
	db, err := gormkit.Open(ctx, gormkit.Config{URL: ":memory:"})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	_ = db.Gorm.Exec("CREATE TABLE orders (id TEXT PRIMARY KEY)").Error

	uow := gormkit.NewUnitOfWork(db.Gorm, func(tx *gorm.DB, events gormkit.EventRecorder) Ports {
		return Ports{Orders: &Orders{tx: tx, events: events}}
	})
	id, err := gormkit.Transact(ctx, uow, func(ctx context.Context, p Ports) (string, error) {
		return "o-9", p.Orders.Place(ctx, "o-9")
	})
	fmt.Println(id, err)
	// Output: o-9 <nil>
}

func ExampleSetupStatements() {
	stmts, err := gormkit.SetupStatements(gormkit.Postgres, gormkit.TableNames{Outbox: "app_outbox"})
	if err != nil {
		panic(err)
	}
	for _, s := range stmts {
		first, _, _ := strings.Cut(s, "\n")
		fmt.Println(first)
	}
	// Output:
	// CREATE TABLE IF NOT EXISTS "app_outbox" (
	// CREATE INDEX IF NOT EXISTS "idx_app_outbox_claim" ON "app_outbox" (status, available_at, id)
	// CREATE TABLE IF NOT EXISTS "idempotency_records" (
	// CREATE INDEX IF NOT EXISTS "idx_idempotency_records_expires" ON "idempotency_records" (expires_at)
}

func ExampleAutoMigrate() {
	db, err := gormkit.Open(context.Background(), gormkit.Config{URL: ":memory:"})
	if err != nil {
		panic(err)
	}
	defer db.Close()

	err = gormkit.AutoMigrate(db.Gorm, gormkit.TableNames{Outbox: "jobs; DROP TABLE users"})
	fmt.Println(err)
	err = gormkit.AutoMigrate(db.Gorm, gormkit.TableNames{Outbox: "jobs"})
	fmt.Println(err, db.Gorm.Migrator().HasTable("jobs"), db.Gorm.Migrator().HasTable("idempotency_records"))
	// Output:
	// gormkit: table name "jobs; DROP TABLE users" is not a valid identifier (only letters, digits and '_' are allowed)
	// <nil> true true
}
