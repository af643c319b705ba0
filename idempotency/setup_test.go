package idempotency

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/testdb"
)

// bundle is what one test on one backend works with.
type bundle struct {
	db    *gormkit.DB
	store *Store
	clock *testdb.Clock
	table string
	ctx   context.Context
}

func setup(t *testing.T, db *gormkit.DB) *bundle {
	t.Helper()
	tables := testdb.Migrate(t, db)
	c := testdb.NewClock()
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
