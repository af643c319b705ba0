package idempotency

import (
	"os"
	"sync"
	"testing"
	"time"

	mysqldriver "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/stretchr/testify/require"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/testdb"
)

// With clientFoundRows a MySQL upsert that leaves the row alone reports one
// affected row, like an insert; the store must notice and read the row.
func TestMySQLClientFoundRows(t *testing.T) {
	t.Parallel()
	if os.Getenv("MYSQL_DB_URL") == "" {
		t.Skip("SKIP: MYSQL_DB_URL is not set")
	}
	base := testdb.Open(t, backend(t, "mysql"))
	dsn := base.Gorm.Dialector.(*mysqldriver.Dialector).DSNConfig.Clone()
	dsn.ClientFoundRows = true
	gdb, err := gorm.Open(mysqldriver.New(mysqldriver.Config{DSNConfig: dsn}), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	sqlDB, err := gdb.DB()
	require.NoError(t, err)
	t.Cleanup(func() { _ = sqlDB.Close() })

	tables := testdb.Migrate(t, base)
	c := testdb.NewClock()
	store, err := NewStore(gdb, Config{Table: tables.Idempotency, Now: c.Now})
	require.NoError(t, err)
	require.Equal(t, mysqlSQL{foundRows: true}, store.sql)
	plain, err := NewStore(base.Gorm, Config{Table: tables.Idempotency})
	require.NoError(t, err)
	require.Equal(t, mysqlSQL{foundRows: false}, plain.sql)

	b := &bundle{db: &gormkit.DB{Gorm: gdb}, store: store, clock: c, table: tables.Idempotency, ctx: t.Context()}
	outcomes := map[Outcome]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			r, err := store.Reserve(b.ctx, req("k-found", "fp"))
			require.NoError(t, err)
			mu.Lock()
			outcomes[r.Outcome]++
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Equal(t, map[Outcome]int{Acquired: 1, InProgress: 15}, outcomes)

	c.Advance(2 * time.Minute)
	taker := b.reserve(t, req("k-found", "fp"))
	require.Equal(t, Acquired, taker.Outcome)
	require.NoError(t, store.Complete(b.ctx, taker, []byte(`1`)))
	require.Equal(t, Replay, b.reserve(t, req("k-found", "fp")).Outcome)
}
