package sqliteconn_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite"
	"github.com/stretchr/testify/require"

	"github.com/gormkit/gormkit/internal/sqliteconn"
)

func init() { sqliteconn.Register("sqliteconn-test", "sqlite") }

func TestTimesAreBoundInUTC(t *testing.T) {
	db, err := sql.Open("sqliteconn-test", filepath.Join(t.TempDir(), "t.db"))
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec("CREATE TABLE t (at DATETIME)")
	require.NoError(t, err)

	east := time.FixedZone("E", 5*3600)
	west := time.FixedZone("W", -8*3600)
	at := time.Date(2024, 1, 1, 12, 0, 0, 500000000, time.UTC)
	_, err = db.Exec("INSERT INTO t (at) VALUES (?), (?)", at.In(east), sql.NullTime{Time: at.In(west), Valid: true})
	require.NoError(t, err)

	rows, err := db.Query("SELECT CAST(at AS TEXT) FROM t")
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		require.Equal(t, "2024-01-01 12:00:00.5+00:00", s)
	}
	require.NoError(t, rows.Err())

	// Arguments in any zone match, in a transaction and a prepared statement too.
	tx, err := db.Begin()
	require.NoError(t, err)
	defer tx.Rollback()
	stmt, err := tx.Prepare("SELECT COUNT(*) FROM t WHERE at = ?")
	require.NoError(t, err)
	var n int
	require.NoError(t, stmt.QueryRow(at.In(west)).Scan(&n))
	require.Equal(t, 2, n)
	require.NoError(t, tx.QueryRow("SELECT COUNT(*) FROM t WHERE at < ?", at.Add(time.Millisecond).In(west)).Scan(&n))
	require.Equal(t, 2, n)

	// Other values pass through as database/sql would convert them.
	var s string
	var i int64
	require.NoError(t, db.QueryRow("SELECT ?, ?", "x", uint8(7)).Scan(&s, &i))
	require.Equal(t, "x", s)
	require.EqualValues(t, 7, i)
}

// A cancelled transaction must not close the only connection of an
// in-memory database, which would drop the database.
func TestCancelledTransactionKeepsConnection(t *testing.T) {
	db, err := sql.Open("sqliteconn-test", "file::memory:")
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(0)
	_, err = db.Exec("CREATE TABLE kept (n INTEGER)")
	require.NoError(t, err)
	for range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		_, err = tx.Exec("INSERT INTO kept (n) VALUES (1)")
		require.NoError(t, err)
		cancel() // database/sql rolls back in the background
		for !errors.Is(execErr(tx), sql.ErrTxDone) {
			time.Sleep(time.Millisecond)
		}
		var n int
		require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM kept").Scan(&n))
		require.Zero(t, n)
	}
	require.Zero(t, db.Stats().MaxIdleClosed+db.Stats().MaxLifetimeClosed)
}

func execErr(tx *sql.Tx) error {
	_, err := tx.ExecContext(context.Background(), "SELECT 1")
	return err
}
