// Package sqlitecgo opens SQLite with gorm.io/driver/sqlite, which wraps the
// cgo driver github.com/mattn/go-sqlite3. gormkit's default SQLite driver is
// pure Go; import this package only when you want the C SQLite library, and
// cgo is linked only into programs that do:
//
//	db, err := gormkit.Open(ctx, gormkit.Config{
//		URL:    "file:app.db",
//		SQLite: gormkit.SQLiteConfig{Driver: sqlitecgo.Driver},
//	})
//
// The connection gets the same settings as with the default driver: WAL,
// busy timeout, synchronous mode, foreign keys and immediate write
// transactions, expressed as go-sqlite3's DSN parameters.
package sqlitecgo

import (
	"net/url"
	"strconv"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/sqliteconn"
)

// Driver is the cgo SQLite driver for gormkit.SQLiteConfig.Driver.
var Driver gormkit.SQLiteDriver = cgoDriver{}

type cgoDriver struct{}

// Dialector implements gormkit.SQLiteDriver.
func (cgoDriver) Dialector(s gormkit.SQLiteSettings) gorm.Dialector {
	return sqlite.New(sqlite.Config{DriverName: driverName, DSN: DSN(s)})
}

// driverName is go-sqlite3 with the connection wrapper of gormkit's default
// driver: times are bound in UTC, because SQLite stores them as text that
// only compares and sorts correctly when written in one zone, and
// connections survive a cancelled transaction. The driver's own
// *sqlite3.SQLiteConn is reachable through sql.Conn.Raw and
// interface{ Unwrap() driver.Conn }.
const driverName = "gormkit-sqlite3"

func init() { sqliteconn.Register(driverName, sqlite.DriverName) }

// DSN returns the go-sqlite3 data source name for s. The URL's own query
// parameters (s.Extra) pass through; gormkit's settings override them.
func DSN(s gormkit.SQLiteSettings) string {
	q := url.Values{}
	for k, vs := range s.Extra {
		q[k] = append([]string(nil), vs...)
	}
	q.Set("_busy_timeout", strconv.FormatInt(s.BusyTimeout.Milliseconds(), 10))
	if s.JournalMode != "" {
		q.Set("_journal_mode", s.JournalMode)
	}
	if s.Synchronous != "" {
		q.Set("_synchronous", s.Synchronous)
	}
	if s.ForeignKeys {
		q.Set("_foreign_keys", "1")
	} else {
		q.Set("_foreign_keys", "0")
	}
	if s.TxLock != "" {
		q.Set("_txlock", s.TxLock)
	}
	path := s.Path
	if path == "" && s.Memory {
		path = ":memory:"
	}
	// The "file:" prefix makes go-sqlite3 open a URI, so SQLite itself sees
	// parameters such as mode=memory or cache=shared.
	return "file:" + path + "?" + q.Encode()
}
