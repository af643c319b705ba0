package sqlitecgo_test

import (
	"context"
	"database/sql/driver"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/sqlitecgo"
)

func open(t *testing.T, url string, cfg gormkit.SQLiteConfig) *gormkit.DB {
	t.Helper()
	cfg.Driver = sqlitecgo.Driver
	db, err := gormkit.Open(context.Background(), gormkit.Config{URL: url, SQLite: cfg})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func pragma(t *testing.T, db *gormkit.DB, name string) string {
	t.Helper()
	var v string
	require.NoError(t, db.SQL.QueryRow("PRAGMA "+name).Scan(&v))
	return v
}

func TestDriverIsCgoSQLite(t *testing.T) {
	db := open(t, "file:"+filepath.Join(t.TempDir(), "app.db"), gormkit.SQLiteConfig{})
	conn, err := db.SQL.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.Raw(func(c any) error {
		u, ok := c.(interface{ Unwrap() driver.Conn })
		require.True(t, ok, "%T", c)
		require.Equal(t, "*sqlite3.SQLiteConn", fmt.Sprintf("%T", u.Unwrap()))
		return nil
	}))
	require.Equal(t, gormkit.SQLite, db.Dialect)
	require.Equal(t, "gormkit-sqlite", db.Provider)
}

func TestPragmas(t *testing.T) {
	db := open(t, "file:"+filepath.Join(t.TempDir(), "app.db"), gormkit.SQLiteConfig{})
	require.Equal(t, "wal", pragma(t, db, "journal_mode"))
	require.Equal(t, "1", pragma(t, db, "foreign_keys"))
	require.Equal(t, "5000", pragma(t, db, "busy_timeout"))
	require.Equal(t, "1", pragma(t, db, "synchronous")) // NORMAL
}

func TestPragmasFromConfig(t *testing.T) {
	db := open(t, "file:"+filepath.Join(t.TempDir(), "app.db"), gormkit.SQLiteConfig{
		BusyTimeout:        1500 * time.Millisecond,
		JournalMode:        "DELETE",
		Synchronous:        "FULL",
		DisableForeignKeys: true,
	})
	require.Equal(t, "delete", pragma(t, db, "journal_mode"))
	require.Equal(t, "0", pragma(t, db, "foreign_keys"))
	require.Equal(t, "1500", pragma(t, db, "busy_timeout"))
	require.Equal(t, "2", pragma(t, db, "synchronous")) // FULL
}

func TestDSN(t *testing.T) {
	dsn := sqlitecgo.DSN(gormkit.SQLiteSettings{
		Path:        "/data/app.db",
		BusyTimeout: 2 * time.Second,
		JournalMode: "WAL",
		Synchronous: "NORMAL",
		ForeignKeys: true,
		TxLock:      "immediate",
		Extra:       map[string][]string{"cache": {"private"}, "_busy_timeout": {"1"}},
	})
	path, query, ok := strings.Cut(dsn, "?")
	require.True(t, ok)
	require.Equal(t, "file:/data/app.db", path)
	for _, want := range []string{"_busy_timeout=2000", "_journal_mode=WAL", "_synchronous=NORMAL", "_foreign_keys=1", "_txlock=immediate", "cache=private"} {
		require.Contains(t, strings.Split(query, "&"), want)
	}
	require.NotContains(t, query, "_busy_timeout=1&")

	mem := sqlitecgo.DSN(gormkit.SQLiteSettings{Memory: true, TxLock: "deferred"})
	require.True(t, strings.HasPrefix(mem, "file::memory:?"), mem)
	require.Contains(t, mem, "_txlock=deferred")
	require.Contains(t, mem, "_foreign_keys=0")
	require.NotContains(t, mem, "_journal_mode")
}

type widget struct {
	ID        uint `gorm:"primaryKey"`
	Name      string
	CreatedAt time.Time `gorm:"precision:6"`
}

func TestAutoMigrateAndRoundTrip(t *testing.T) {
	for _, url := range []string{"file:" + filepath.Join(t.TempDir(), "app.db"), ":memory:"} {
		t.Run(url, func(t *testing.T) {
			db := open(t, url, gormkit.SQLiteConfig{})
			require.NoError(t, gormkit.AutoMigrate(db.Gorm, gormkit.TableNames{}))
			require.True(t, db.Gorm.Migrator().HasTable("outbox_messages"))
			require.True(t, db.Gorm.Migrator().HasTable("idempotency_records"))
			// Migrating again is a no-op.
			require.NoError(t, gormkit.AutoMigrate(db.Gorm, gormkit.TableNames{}))

			require.NoError(t, db.Gorm.AutoMigrate(&widget{}))
			at := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.FixedZone("X", 2*3600))
			require.NoError(t, db.Gorm.Create(&widget{Name: "a", CreatedAt: at}).Error)
			var got widget
			require.NoError(t, db.Gorm.First(&got).Error)
			require.True(t, at.Equal(got.CreatedAt), "got %v want %v", got.CreatedAt, at)
			// Stored as UTC text, so instants compare and sort as text.
			var stored string
			require.NoError(t, db.SQL.QueryRow("SELECT CAST(created_at AS TEXT) FROM widgets").Scan(&stored))
			require.Equal(t, "2024-05-06 05:08:09.123456+00:00", stored)
			var n int
			require.NoError(t, db.SQL.QueryRow("SELECT COUNT(*) FROM widgets WHERE created_at = ?", at).Scan(&n))
			require.Equal(t, 1, n)
		})
	}
}

// Immediate transactions take the write lock at BEGIN, so concurrent
// read-then-write transactions queue on busy_timeout instead of failing.
func TestConcurrentWriteTransactions(t *testing.T) {
	db := open(t, "file:"+filepath.Join(t.TempDir(), "app.db"), gormkit.SQLiteConfig{})
	require.NoError(t, db.Gorm.Exec("CREATE TABLE counter (n INTEGER NOT NULL)").Error)
	require.NoError(t, db.Gorm.Exec("INSERT INTO counter (n) VALUES (0)").Error)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			tx, err := db.SQL.BeginTx(context.Background(), nil)
			if err != nil {
				errs <- err
				return
			}
			var n int
			if err := tx.QueryRow("SELECT n FROM counter").Scan(&n); err != nil {
				_ = tx.Rollback()
				errs <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
			if _, err := tx.Exec("UPDATE counter SET n = ?", n+1); err != nil {
				_ = tx.Rollback()
				errs <- err
				return
			}
			errs <- tx.Commit()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var n int
	require.NoError(t, db.SQL.QueryRow("SELECT n FROM counter").Scan(&n))
	require.Equal(t, 4, n)
}
