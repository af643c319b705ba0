package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/callbacks"
)

// order is the demo's business table.
type order struct {
	ID       string `gorm:"primaryKey;type:varchar(36)"`
	Customer string `gorm:"type:varchar(64);not null"`
	Total    int64  `gorm:"not null"`
}

// orderRepo is a transaction-scoped port built by the unit of work.
type orderRepo struct {
	tx     *gorm.DB
	events gormkit.EventRecorder
}

func (r orderRepo) place(ctx context.Context, o order) error {
	if err := r.tx.WithContext(ctx).Create(&o).Error; err != nil {
		return err
	}
	r.events.Record(gormkit.Event{Name: "order.placed", Payload: o})
	return nil
}

// demoPorts is what each unit of work function sees.
type demoPorts struct{ orders orderRepo }

func runDemo(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	keep := fs.Bool("keep", false, "keep the SQLite file instead of deleting it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "gormkit-demo-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	path := filepath.Join(dir, "demo.db")

	step := func(format string, a ...any) { fmt.Fprintf(out, "\n== "+format+"\n", a...) }

	step("open embedded SQLite at %s", path)
	queries := callbacks.NewRecorder(256)
	db, err := gormkit.Open(ctx, gormkit.Config{URL: "file:" + path, QueryObservers: []callbacks.Observer{queries}})
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(out, "provider %s, port %q, dialect %s\n", db.Provider, db.Name, db.Dialect)

	step("migrate gormkit's tables and the demo's orders table")
	if err := gormkit.AutoMigrate(db.Gorm, gormkit.TableNames{}); err != nil {
		return err
	}
	if err := db.Gorm.AutoMigrate(&order{}); err != nil {
		return err
	}
	fmt.Fprintln(out, "tables: outbox_messages, idempotency_records, orders")

	bus := gormkit.EventBusFunc(func(ctx context.Context, events []gormkit.Event) error {
		for _, e := range events {
			fmt.Fprintf(out, "published after commit: %s %+v\n", e.Name, e.Payload)
		}
		return nil
	})
	uow := gormkit.NewUnitOfWork(db.Gorm, func(tx *gorm.DB, events gormkit.EventRecorder) demoPorts {
		return demoPorts{orders: orderRepo{tx: tx, events: events}}
	}, gormkit.WithEventBus(bus))

	step("unit of work: place two orders in one transaction")
	err = uow.Transaction(ctx, func(ctx context.Context, p demoPorts) error {
		if err := p.orders.place(ctx, order{ID: "o-1", Customer: "ada", Total: 4200}); err != nil {
			return err
		}
		fmt.Fprintln(out, "recorded order.placed o-1 (held until commit)")
		if err := p.orders.place(ctx, order{ID: "o-2", Customer: "grace", Total: 1300}); err != nil {
			return err
		}
		fmt.Fprintln(out, "recorded order.placed o-2 (held until commit)")
		return nil
	})
	if err != nil {
		return err
	}

	step("unit of work that fails: rolled back, nothing published")
	errOutOfStock := errors.New("out of stock")
	err = uow.Transaction(ctx, func(ctx context.Context, p demoPorts) error {
		if err := p.orders.place(ctx, order{ID: "o-3", Customer: "linus", Total: 99}); err != nil {
			return err
		}
		fmt.Fprintln(out, "recorded order.placed o-3, then the function fails")
		return errOutOfStock
	})
	if !errors.Is(err, errOutOfStock) {
		return fmt.Errorf("expected the failing unit of work to return its error, got %v", err)
	}
	var count int64
	if err := db.Gorm.WithContext(ctx).Model(&order{}).Count(&count).Error; err != nil {
		return err
	}
	fmt.Fprintf(out, "transaction returned %q; orders stored: %d (o-3 rolled back, no event published)\n", err, count)

	if err := demoOutbox(ctx, db, out, step); err != nil {
		return err
	}
	if err := demoIdempotency(ctx, db, out, step); err != nil {
		return err
	}

	step("query log (%d statements; values are never logged)", queries.Total())
	for _, e := range queries.Events() {
		status := "ok"
		if e.Err != nil {
			status = "error: " + e.Err.Error()
		}
		fmt.Fprintf(out, "%-6s %-20s rows=%-3d params=%-2d %8s  %s  [%s]\n",
			e.Operation, e.Table, e.RowsAffected, e.ParamCount, e.Duration.Round(1000), oneLine(e.SQL), status)
	}
	fmt.Fprintln(out, "\ndemo finished")
	return nil
}

func oneLine(sql string) string {
	sql = strings.Join(strings.Fields(sql), " ")
	if len(sql) > 90 {
		sql = sql[:87] + "..."
	}
	return sql
}

// demoOutbox and demoIdempotency are filled in as those parts land.
func demoOutbox(ctx context.Context, db *gormkit.DB, out io.Writer, step func(string, ...any)) error {
	return nil
}

func demoIdempotency(ctx context.Context, db *gormkit.DB, out io.Writer, step func(string, ...any)) error {
	return nil
}
