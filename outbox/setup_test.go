package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/testdb"
	"github.com/gormkit/gormkit/models"
	"github.com/gormkit/gormkit/outbox"
)

// bundle is what each test works with.
type bundle struct {
	ctx   context.Context
	db    *gormkit.DB
	ob    *outbox.Outbox
	clock *testdb.Clock
	table string
}

// setup migrates a fresh outbox table on db and returns an outbox on it
// driven by a fake clock.
func setup(t *testing.T, db *gormkit.DB) *bundle {
	t.Helper()
	tables := testdb.Migrate(t, db)
	clock := testdb.NewClock()
	ob, err := outbox.New(db.Gorm, outbox.Config{Table: tables.Outbox, Now: clock.Now})
	require.NoError(t, err)
	return &bundle{ctx: context.Background(), db: db, ob: ob, clock: clock, table: tables.Outbox}
}

// enqueueJobs enqueues n jobs named name and returns their IDs.
func (b *bundle) enqueueJobs(t *testing.T, n int, name string, opts ...func(*outbox.NewMessage)) []string {
	t.Helper()
	msgs := make([]outbox.NewMessage, n)
	for i := range msgs {
		msgs[i] = outbox.NewMessage{Kind: outbox.KindJob, Name: name, Payload: map[string]int{"n": i}}
		for _, o := range opts {
			o(&msgs[i])
		}
	}
	ids, err := b.ob.Enqueue(b.ctx, msgs...)
	require.NoError(t, err)
	require.Len(t, ids, n)
	return ids
}

// row reads one message row.
func (b *bundle) row(t *testing.T, id string) models.OutboxMessage {
	t.Helper()
	var m models.OutboxMessage
	require.NoError(t, b.db.Gorm.Table(b.table).Where("id = ?", id).Take(&m).Error)
	return m
}

// count counts rows, optionally of one status.
func (b *bundle) count(t *testing.T, status string) int64 {
	t.Helper()
	q := b.db.Gorm.Table(b.table)
	if status != "" {
		q = q.Where("status = ?", status)
	}
	var n int64
	require.NoError(t, q.Count(&n).Error)
	return n
}

// relay returns a relay with quiet logs and small timings.
func (b *bundle) relay(t *testing.T, cfg outbox.RelayConfig) *outbox.Relay {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	r, err := outbox.NewRelay(b.ob, cfg)
	require.NoError(t, err)
	return r
}

// fixedRand is a deterministic jitter source.
func fixedRand(v float64) func() float64 { return func() float64 { return v } }

func jsonEq(t *testing.T, want string, got json.RawMessage) {
	t.Helper()
	require.JSONEq(t, want, string(got))
}

var errBoom = fmt.Errorf("boom")
