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

	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/callbacks"
	"github.com/gormkit/gormkit/idempotency"
	"github.com/gormkit/gormkit/outbox"
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
		rows := "-" // unknown for Row/Rows, whose caller reads the rows
		if e.RowsAffected >= 0 {
			rows = fmt.Sprint(e.RowsAffected)
		}
		fmt.Fprintf(out, "%-6s rows=%-3s params=%-2d %8s  %s  [%s]\n",
			e.Operation, rows, e.ParamCount, e.Duration.Round(time.Microsecond), oneLine(e.SQL), status)
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

// demoOutbox enqueues messages in a unit of work and drains them with a
// relay: one delivered, one retried then delivered, one dead-lettered.
func demoOutbox(ctx context.Context, db *gormkit.DB, out io.Writer, step func(string, ...any)) error {
	box, err := outbox.New(db.Gorm, outbox.Config{})
	if err != nil {
		return err
	}
	uow := gormkit.NewUnitOfWork(db.Gorm, func(tx *gorm.DB, events gormkit.EventRecorder) demoPorts {
		return demoPorts{orders: orderRepo{tx: tx, events: events}}
	}, gormkit.WithEventWriter(box.EventWriter()))

	step("outbox: a unit of work writes an order, its event and two jobs in one transaction")
	err = uow.Transaction(ctx, func(ctx context.Context, p demoPorts) error {
		if err := p.orders.place(ctx, order{ID: "o-4", Customer: "edsger", Total: 700}); err != nil {
			return err
		}
		tx, _ := gormkit.TxFromContext(ctx)
		_, err := box.EnqueueTx(ctx, tx,
			outbox.NewMessage{Kind: outbox.KindJob, Name: "invoice.render", Payload: map[string]string{"order": "o-4"}},
			outbox.NewMessage{Kind: outbox.KindJob, Name: "legacy.sync", Payload: map[string]string{"order": "o-4"}, MaxAttempts: 2},
		)
		return err
	})
	if err != nil {
		return err
	}
	stats, err := box.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "committed: %d pending messages (order.placed event, invoice.render, legacy.sync)\n", stats.Pending)

	step("relay: drain with handlers; invoice.render fails once, legacy.sync always fails")
	renders := 0
	relay, err := outbox.NewRelay(box, outbox.RelayConfig{
		Handlers: map[outbox.Route]outbox.HandlerFunc{
			{Kind: outbox.KindEvent, Name: "order.placed"}: func(ctx context.Context, m outbox.Message) error {
				fmt.Fprintf(out, "delivered event %s %s (attempt %d)\n", m.Name, m.Payload, m.Attempt)
				return nil
			},
			{Kind: outbox.KindJob, Name: "invoice.render"}: func(ctx context.Context, m outbox.Message) error {
				renders++
				if renders == 1 {
					fmt.Fprintf(out, "job %s attempt %d failed: renderer busy (will retry)\n", m.Name, m.Attempt)
					return errors.New("renderer busy")
				}
				fmt.Fprintf(out, "job %s attempt %d done\n", m.Name, m.Attempt)
				return nil
			},
			{Kind: outbox.KindJob, Name: "legacy.sync"}: func(ctx context.Context, m outbox.Message) error {
				fmt.Fprintf(out, "job %s attempt %d/%d failed: legacy system down\n", m.Name, m.Attempt, m.MaxAttempts)
				return errors.New("legacy system down")
			},
		},
		Concurrency: 1,
		// Retry at once so the demo need not wait for the default backoff.
		Retry:  outbox.RetryPolicyFunc(func(int, error) time.Duration { return 0 }),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	counts, err := relay.DrainOnce(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "drain: claimed %d, delivered %d, retried %d, dead-lettered %d\n",
		counts.Claimed, counts.Delivered, counts.Retried, counts.DeadLettered)
	dead, err := box.ListDeadLetters(ctx, 10, "")
	if err != nil {
		return err
	}
	for _, m := range dead {
		fmt.Fprintf(out, "dead letter: %s after %d attempts, last error %q\n", m.Name, m.Attempts, deref(m.LastError))
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// receipt is the stored result of the demo's idempotent command.
type receipt struct {
	Charge string `json:"charge"`
	Amount int    `json:"amount"`
}

// demoIdempotency runs one command twice with the same key: the second call
// replays the stored receipt instead of charging again.
func demoIdempotency(ctx context.Context, db *gormkit.DB, out io.Writer, step func(string, ...any)) error {
	store, err := idempotency.NewStore(db.Gorm, idempotency.Config{})
	if err != nil {
		return err
	}
	step("idempotency: a client retries a charge with the same Idempotency-Key")
	charges := 0
	req := idempotency.Request{
		Namespace:   "payments.charge",
		Key:         "key-7f3a",
		Scope:       map[string]string{"tenant": "acme"},
		Fingerprint: idempotency.Fingerprint("o-4", "700"),
	}
	charge := func(ctx context.Context) (receipt, error) {
		charges++
		return receipt{Charge: fmt.Sprintf("ch_%d", charges), Amount: 700}, nil
	}
	for attempt := 1; attempt <= 2; attempt++ {
		r, err := idempotency.Run(ctx, store, req, charge)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "attempt %d: receipt %+v (charges made so far: %d)\n", attempt, r, charges)
	}
	req.Fingerprint = idempotency.Fingerprint("o-4", "9999")
	_, err = idempotency.Run(ctx, store, req, charge)
	fmt.Fprintf(out, "same key, different amount: %v (errors.Is ErrFingerprintMismatch: %t)\n",
		err, errors.Is(err, idempotency.ErrFingerprintMismatch))
	return nil
}
