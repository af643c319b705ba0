package idempotency

import (
	"strconv"
	"time"

	"gorm.io/gorm"
)

// sqliteSQL reserves with the same ON CONFLICT … RETURNING upsert as
// PostgreSQL (SQLite 3.35+). SQLite has one writer at a time, so the
// statement is atomic by construction.
type sqliteSQL struct{}

func (sqliteSQL) reserve(db *gorm.DB, table string, rec newRecord) (upsertState, error) {
	return reserveOnConflict(db, table, rec)
}

// purge deletes one batch. SQLite has no row locks to skip, and DELETE …
// LIMIT needs a compile-time option, hence the subquery.
func (sqliteSQL) purge(db *gorm.DB, table string, now time.Time, limit int) (int64, error) {
	q := db.Exec("DELETE FROM "+table+" WHERE storage_key IN (SELECT storage_key FROM "+table+
		" WHERE expires_at <= ? ORDER BY expires_at LIMIT "+strconv.Itoa(limit)+")", now)
	return q.RowsAffected, q.Error
}

// equal: SQLite compares text with the BINARY collation by default.
func (sqliteSQL) equal(column string) string { return column + " = ?" }

// readLatest: a writing SQLite transaction holds the database's only write
// lock, so nothing committed after its snapshot.
func (sqliteSQL) readLatest() string { return "" }
