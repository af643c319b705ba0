package outbox_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/ids"
	"github.com/gormkit/gormkit/internal/testdb"
	"github.com/gormkit/gormkit/models"
	"github.com/gormkit/gormkit/outbox"
)

// forEachBackend runs a sub-benchmark per backend; server backends whose
// URL is unset are skipped.
func forEachBackend(b *testing.B, fn func(b *testing.B, db *gormkit.DB, ob *outbox.Outbox)) {
	for _, be := range testdb.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			db := testdb.Open(b, be)
			tables := testdb.Migrate(b, db)
			ob, err := outbox.New(db.Gorm, outbox.Config{Table: tables.Outbox})
			if err != nil {
				b.Fatal(err)
			}
			fn(b, db, ob)
		})
	}
}

var benchPayload = map[string]any{"order": "o-12345", "total": 4200, "currency": "EUR"}

const benchPayloadJSON = `{"currency":"EUR","order":"o-12345","total":4200}`

// BenchmarkEnqueueInTx writes one message per transaction with EnqueueTx.
func BenchmarkEnqueueInTx(b *testing.B) {
	forEachBackend(b, func(b *testing.B, db *gormkit.DB, ob *outbox.Outbox) {
		ctx := context.Background()
		// The payload is pre-encoded as in BenchmarkPlainGormInsertInTx, so
		// both measure the write path alone.
		msg := outbox.NewMessage{Kind: outbox.KindEvent, Name: "order.placed", Payload: json.RawMessage(benchPayloadJSON),
			Headers: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
		for b.Loop() {
			err := db.Gorm.Transaction(func(tx *gorm.DB) error {
				_, err := ob.EnqueueTx(ctx, tx, msg)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPlainGormInsertInTx writes the same row as BenchmarkEnqueueInTx
// with a plain GORM Create, the baseline the outbox should match.
func BenchmarkPlainGormInsertInTx(b *testing.B) {
	forEachBackend(b, func(b *testing.B, db *gormkit.DB, ob *outbox.Outbox) {
		payload := models.JSON(benchPayloadJSON)
		headers := models.JSON(`{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`)
		for b.Loop() {
			err := db.Gorm.Transaction(func(tx *gorm.DB) error {
				now := models.UTC(time.Now())
				return tx.Table(ob.Table()).Create(&models.OutboxMessage{
					ID: ids.NewV7(now), Kind: outbox.KindEvent, Name: "order.placed", Payload: payload, Headers: headers,
					Status: outbox.StatusPending, MaxAttempts: outbox.DefaultMaxAttempts, AvailableAt: now, CreatedAt: now, UpdatedAt: now,
				}).Error
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// drainBatch is the number of messages one BenchmarkDrain iteration drains.
const drainBatch = 1000

// BenchmarkDrain measures relay throughput: each iteration enqueues 1,000
// messages (untimed) and drains them with a no-op handler in batches of 100.
func BenchmarkDrain(b *testing.B) {
	forEachBackend(b, func(b *testing.B, db *gormkit.DB, ob *outbox.Outbox) {
		ctx := context.Background()
		relay, err := outbox.NewRelay(ob, outbox.RelayConfig{
			BatchSize: 100, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Handlers: map[outbox.Route]outbox.HandlerFunc{
				{Kind: outbox.KindJob, Name: outbox.AnyName}: func(context.Context, outbox.Message) error { return nil },
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		msgs := make([]outbox.NewMessage, drainBatch)
		for i := range msgs {
			msgs[i] = outbox.NewMessage{Kind: outbox.KindJob, Name: "work", Payload: benchPayload}
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			if _, err := ob.Enqueue(ctx, msgs...); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			c, err := relay.DrainOnce(ctx)
			if err != nil || c.Delivered != drainBatch {
				b.Fatalf("drained %+v: %v", c, err)
			}
		}
		b.ReportMetric(float64(b.N*drainBatch)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// BenchmarkDrainHandWrittenSQL is the reference loop on PostgreSQL that
// BenchmarkDrain is compared with: claim a batch with one statement, run a
// no-op handler, mark the batch delivered with one statement.
func BenchmarkDrainHandWrittenSQL(b *testing.B) {
	be := testdb.Backends()[2]
	db := testdb.Open(b, be)
	tables := testdb.Migrate(b, db)
	ob, err := outbox.New(db.Gorm, outbox.Config{Table: tables.Outbox})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	msgs := make([]outbox.NewMessage, drainBatch)
	for i := range msgs {
		msgs[i] = outbox.NewMessage{Kind: outbox.KindJob, Name: "work", Payload: benchPayload}
	}
	t := `"` + tables.Outbox + `"`
	claim := `UPDATE ` + t + ` SET attempts = attempts + 1, locked_until = $1, claim_token = $2, updated_at = $3
WHERE id IN (SELECT id FROM ` + t + ` WHERE status = 'pending' AND available_at <= $3 AND (locked_until IS NULL OR locked_until <= $3)
ORDER BY available_at, id LIMIT 100 FOR UPDATE SKIP LOCKED) RETURNING id, kind, name, payload, headers, attempts`
	deliver := `UPDATE ` + t + ` SET status = 'delivered', delivered_at = $1, updated_at = $1, locked_until = NULL
WHERE claim_token = $2 AND status = 'pending' AND id = ANY($3)`
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if _, err := ob.Enqueue(ctx, msgs...); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for n := 0; ; {
			now := time.Now().UTC()
			token := ids.Token()
			rows, err := db.SQL.QueryContext(ctx, claim, now.Add(30*time.Second), token, now)
			if err != nil {
				b.Fatal(err)
			}
			var batch []string
			for rows.Next() {
				var id, kind, name string
				var payload, headers []byte
				var attempts int
				if err := rows.Scan(&id, &kind, &name, &payload, &headers, &attempts); err != nil {
					b.Fatal(err)
				}
				batch = append(batch, id)
			}
			rows.Close()
			if len(batch) == 0 {
				if n != drainBatch {
					b.Fatalf("drained %d", n)
				}
				break
			}
			n += len(batch)
			if _, err := db.SQL.ExecContext(ctx, deliver, time.Now().UTC(), token, "{"+strings.Join(batch, ",")+"}"); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*drainBatch)/b.Elapsed().Seconds(), "msgs/s")
}
