package idempotency

import (
	"strconv"
	"time"

	mysqldriver "gorm.io/driver/mysql"
	"gorm.io/gorm"

	"github.com/gormkit/gormkit/models"
)

// mysqlSQL reserves with INSERT … ON DUPLICATE KEY UPDATE, which takes the
// row's exclusive lock at once (a plain INSERT that fails with a duplicate
// key takes a shared lock, and two such callers upgrading deadlock).
//
// MySQL evaluates the assignments left to right, each seeing the columns
// already assigned, so the takeover condition is evaluated once, in the
// first assignment, which swaps in the new reservation token; every later
// assignment asks "is the token now ours?". Tokens are random UUIDs, so
// that is true only after a takeover.
type mysqlSQL struct {
	// foundRows is true when the connection reports matched rather than
	// changed rows (clientFoundRows), or when that cannot be known: then an
	// affected-row count of 1 is ambiguous and the row is read back.
	foundRows bool
}

func newMySQLSQL(db *gorm.DB) mysqlSQL {
	var cfg *mysqldriver.Config
	switch d := db.Dialector.(type) {
	case *mysqldriver.Dialector:
		cfg = d.Config
	case mysqldriver.Dialector:
		cfg = d.Config
	}
	if cfg == nil || cfg.DSNConfig == nil {
		return mysqlSQL{foundRows: true}
	}
	return mysqlSQL{foundRows: cfg.DSNConfig.ClientFoundRows}
}

func (m mysqlSQL) reserve(db *gorm.DB, table string, rec newRecord) (upsertState, error) {
	takeover := "expires_at <= ? OR (status = ? AND locked_until <= ? AND " + m.equal("fingerprint") + ")"
	ours := "reservation_token = ?"
	stmt := "INSERT INTO " + table + " " + insertColumns + " VALUES " + insertValues +
		" ON DUPLICATE KEY UPDATE" +
		" reservation_token = IF(" + takeover + ", ?, reservation_token)," +
		" fingerprint = IF(" + ours + ", ?, fingerprint)," +
		" status = IF(" + ours + ", ?, status)," +
		" result = IF(" + ours + ", NULL, result)," +
		" locked_until = IF(" + ours + ", ?, locked_until)," +
		" expires_at = IF(" + ours + ", ?, expires_at)," +
		" created_at = IF(" + ours + ", ?, created_at)," +
		" updated_at = IF(" + ours + ", ?, updated_at)," +
		" completed_at = IF(" + ours + ", NULL, completed_at)"
	args := append(rec.insertArgs(),
		rec.now, models.StatusInProgress, rec.now, rec.fingerprint, rec.token,
		rec.token, rec.fingerprint,
		rec.token, models.StatusInProgress,
		rec.token,
		rec.token, rec.lockedUntil,
		rec.token, rec.expiresAt,
		rec.token, rec.now,
		rec.token, rec.now,
		rec.token,
	)
	q := db.Exec(stmt, args...)
	if q.Error != nil {
		return 0, q.Error
	}
	// Affected rows: 1 inserted, 2 updated, 0 left alone (1 with
	// clientFoundRows).
	switch {
	case q.RowsAffected == 2, q.RowsAffected == 1 && !m.foundRows:
		return upsertAcquired, nil
	case q.RowsAffected == 0:
		return upsertNotTaken, nil
	}
	return upsertUnknown, nil
}

// purge deletes one batch; MySQL allows DELETE … ORDER BY … LIMIT but no
// LIMIT in a subquery on the same table.
func (mysqlSQL) purge(db *gorm.DB, table string, now time.Time, limit int) (int64, error) {
	q := db.Exec("DELETE FROM "+table+" WHERE expires_at <= ? ORDER BY expires_at LIMIT "+strconv.Itoa(limit), now)
	return q.RowsAffected, q.Error
}

// equal compares bytes: the default utf8mb4 collations ignore case and
// trailing spaces.
func (mysqlSQL) equal(column string) string {
	return "CAST(" + column + " AS BINARY) = CAST(? AS BINARY)"
}

// readLatest: InnoDB's REPEATABLE READ snapshot can predate the commit the
// upsert waited for; a locking read sees the latest version. The upsert
// already holds the row's exclusive lock, so this costs nothing more.
func (mysqlSQL) readLatest() string { return " FOR UPDATE" }
