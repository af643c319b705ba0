package idempotency

import (
	"database/sql"
	"errors"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/gormkit/gormkit/models"
)

// postgresSQL reserves with INSERT … ON CONFLICT DO UPDATE … WHERE …
// RETURNING: one statement that never raises a unique violation, so it is
// also safe inside a transaction (where a failed INSERT would abort the
// whole transaction on PostgreSQL). A concurrent reservation of the same
// key waits for the row lock and then sees the committed row.
type postgresSQL struct{}

func (postgresSQL) reserve(db *gorm.DB, table string, rec newRecord) (upsertState, error) {
	return reserveOnConflict(db, table, rec)
}

// reserveOnConflict is the upsert PostgreSQL and SQLite (3.35+) share. The
// row is taken over only when the WHERE holds; otherwise RETURNING yields
// nothing.
func reserveOnConflict(db *gorm.DB, table string, rec newRecord) (upsertState, error) {
	stmt := "INSERT INTO " + table + " AS cur " + insertColumns + " VALUES " + insertValues +
		" ON CONFLICT (storage_key) DO UPDATE SET" +
		" fingerprint = excluded.fingerprint, status = excluded.status, result = NULL," +
		" reservation_token = excluded.reservation_token, locked_until = excluded.locked_until," +
		" expires_at = excluded.expires_at, created_at = excluded.created_at, updated_at = excluded.updated_at, completed_at = NULL" +
		" WHERE cur.expires_at <= ? OR (cur.status = ? AND cur.locked_until <= ? AND cur.fingerprint = excluded.fingerprint)" +
		" RETURNING reservation_token"
	args := append(rec.insertArgs(), rec.now, models.StatusInProgress, rec.now)
	var token string
	err := db.Raw(stmt, args...).Row().Scan(&token)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return upsertNotTaken, nil
	case err != nil:
		return 0, err
	case token != rec.token:
		return upsertUnknown, nil
	}
	return upsertAcquired, nil
}

// purge deletes one batch; SKIP LOCKED lets concurrent purgers, and
// reservations holding a row, pass each other.
func (postgresSQL) purge(db *gorm.DB, table string, now time.Time, limit int) (int64, error) {
	q := db.Exec("DELETE FROM "+table+" WHERE storage_key IN (SELECT storage_key FROM "+table+
		" WHERE expires_at <= ? ORDER BY expires_at LIMIT "+strconv.Itoa(limit)+" FOR UPDATE SKIP LOCKED)", now)
	return q.RowsAffected, q.Error
}

// equal: text comparison is exact under PostgreSQL's deterministic
// collations.
func (postgresSQL) equal(column string) string { return column + " = ?" }

// readLatest: under READ COMMITTED every statement sees the latest commit;
// under REPEATABLE READ the upsert itself already failed with a
// serialization error when another transaction changed the row.
func (postgresSQL) readLatest() string { return "" }
