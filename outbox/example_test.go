package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/outbox"
)

// openExampleDB opens an in-memory SQLite database with gormkit's tables.
func openExampleDB(ctx context.Context) *gormkit.DB {
	db, err := gormkit.Open(ctx, gormkit.Config{URL: ":memory:"})
	if err != nil {
		panic(err)
	}
	if err := gormkit.AutoMigrate(db.Gorm, gormkit.TableNames{}); err != nil {
		panic(err)
	}
	return db
}

// Enqueue a job, then deliver it with DrainOnce.
func Example() {
	ctx := context.Background()
	db := openExampleDB(ctx)
	defer db.Close()

	ob, err := outbox.New(db.Gorm, outbox.Config{})
	if err != nil {
		panic(err)
	}
	_, err = ob.Enqueue(ctx, outbox.NewMessage{
		Kind:    outbox.KindJob,
		Name:    "email.send",
		Payload: map[string]string{"to": "ada@example.com"},
	})
	if err != nil {
		panic(err)
	}

	relay, err := outbox.NewRelay(ob, outbox.RelayConfig{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	err = relay.Handle(outbox.KindJob, "email.send", func(ctx context.Context, m outbox.Message) error {
		var p struct {
			To string `json:"to"`
		}
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			return outbox.Permanent(err) // retrying cannot fix a bad payload
		}
		fmt.Printf("sending mail to %s, attempt %d of %d\n", p.To, m.Attempt, m.MaxAttempts)
		return nil
	})
	if err != nil {
		panic(err)
	}
	counts, err := relay.DrainOnce(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Printf("claimed %d, delivered %d\n", counts.Claimed, counts.Delivered)
	// Output:
	// sending mail to ada@example.com, attempt 1 of 10
	// claimed 1, delivered 1
}

// A failing handler is retried after the backoff; the clock is injected so
// the example can step past the delay instead of sleeping.
func ExampleRelay_retry() {
	ctx := context.Background()
	db := openExampleDB(ctx)
	defer db.Close()

	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	ob, err := outbox.New(db.Gorm, outbox.Config{Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	if _, err := ob.Enqueue(ctx, outbox.NewMessage{Kind: outbox.KindJob, Name: "charge", Payload: 42, MaxAttempts: 3}); err != nil {
		panic(err)
	}
	relay, err := outbox.NewRelay(ob, outbox.RelayConfig{
		Retry:  outbox.ExponentialBackoff{Initial: 30 * time.Second, Jitter: -1}, // no jitter: exact times
		Logger: slog.New(slog.DiscardHandler),
		Handlers: map[outbox.Route]outbox.HandlerFunc{
			{Kind: outbox.KindJob, Name: "charge"}: func(ctx context.Context, m outbox.Message) error {
				if m.Attempt == 1 {
					return errors.New("payment gateway timed out")
				}
				fmt.Printf("charged on attempt %d\n", m.Attempt)
				return nil
			},
		},
	})
	if err != nil {
		panic(err)
	}

	c, _ := relay.DrainOnce(ctx)
	fmt.Printf("first run: delivered %d, retried %d\n", c.Delivered, c.Retried)
	now = now.Add(29 * time.Second)
	c, _ = relay.DrainOnce(ctx)
	fmt.Printf("after 29s: claimed %d\n", c.Claimed)
	now = now.Add(time.Second)
	c, _ = relay.DrainOnce(ctx)
	fmt.Printf("after 30s: delivered %d\n", c.Delivered)
	// Output:
	// first run: delivered 0, retried 1
	// after 29s: claimed 0
	// charged on attempt 2
	// after 30s: delivered 1
}

// Events recorded in a unit of work are written to the outbox in its
// transaction, and only if it commits.
func ExampleOutbox_EventWriter() {
	ctx := context.Background()
	db := openExampleDB(ctx)
	defer db.Close()
	ob, err := outbox.New(db.Gorm, outbox.Config{})
	if err != nil {
		panic(err)
	}

	type ports struct{ events gormkit.EventRecorder }
	uow := gormkit.NewUnitOfWork(db.Gorm, func(tx *gorm.DB, ev gormkit.EventRecorder) ports {
		return ports{events: ev}
	}, gormkit.WithEventWriter(ob.EventWriter()))

	_ = uow.Transaction(ctx, func(ctx context.Context, p ports) error {
		p.events.Record(gormkit.Event{Name: "order.placed", Payload: map[string]int{"total": 42}})
		return nil // commit: the event is stored
	})
	_ = uow.Transaction(ctx, func(ctx context.Context, p ports) error {
		p.events.Record(gormkit.Event{Name: "order.placed", Payload: map[string]int{"total": 7}})
		return errors.New("out of stock") // rollback: nothing is stored
	})

	stats, err := ob.Stats(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("pending messages:", stats.Pending)
	// Output:
	// pending messages: 1
}
