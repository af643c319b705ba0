package idempotency

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/testdb"
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// bundle is what one test on one backend works with.
type bundle struct {
	db    *gormkit.DB
	store *Store
	clock *clock
	table string
	ctx   context.Context
}

func setup(t *testing.T, db *gormkit.DB) *bundle {
	t.Helper()
	tables := testdb.Migrate(t, db)
	c := newClock()
	store, err := NewStore(db.Gorm, Config{Table: tables.Idempotency, Now: c.Now})
	require.NoError(t, err)
	return &bundle{db: db, store: store, clock: c, table: tables.Idempotency, ctx: context.Background()}
}

func (b *bundle) count(t *testing.T) int64 {
	t.Helper()
	var n int64
	require.NoError(t, b.db.Gorm.Table(b.table).Count(&n).Error)
	return n
}

func (b *bundle) reserve(t *testing.T, req Request) *Reservation {
	t.Helper()
	r, err := b.store.Reserve(b.ctx, req)
	require.NoError(t, err)
	return r
}

func req(key, fingerprint string) Request {
	return Request{Namespace: "orders", Key: key, Scope: map[string]string{"tenant": "t1"}, Fingerprint: fingerprint}
}

// backend returns the testdb backend with the given name.
func backend(t testing.TB, name string) testdb.Backend {
	t.Helper()
	for _, b := range testdb.Backends() {
		if b.Name == name {
			return b
		}
	}
	t.Fatalf("no backend %q", name)
	return testdb.Backend{}
}
