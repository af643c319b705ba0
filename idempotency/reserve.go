package idempotency

import (
	"time"

	"gorm.io/gorm"

	"github.com/gormkit/gormkit/models"
)

// dialectSQL is the SQL that must differ between dialects; the state
// machine around it (classifying, retrying, compare-and-set) is shared in
// store.go. The implementations live in reserve_<dialect>.go.
type dialectSQL interface {
	// reserve inserts rec, or takes over the existing row when its
	// retention expired (expires_at <= now) or its in-progress lease ran out
	// (locked_until <= now) under the same fingerprint, in one statement.
	reserve(db *gorm.DB, table string, rec newRecord) (upsertState, error)
	// purge deletes up to limit rows whose expires_at <= now.
	purge(db *gorm.DB, table string, now time.Time, limit int) (int64, error)
	// equal returns an exact, collation-free "column = ?" comparison.
	equal(column string) string
	// readLatest is appended to the read that classifies a row the upsert
	// left alone, so that it sees the latest committed row even inside a
	// transaction whose snapshot is older.
	readLatest() string
}

// upsertState is what reserve learned from its statement.
type upsertState int

const (
	upsertAcquired upsertState = iota + 1 // inserted or took over
	upsertNotTaken                        // the row exists and was left alone
	upsertUnknown                         // the statement cannot tell; read the row
)

// newRecord is the row a reservation writes.
type newRecord struct {
	identity
	token                       string
	now, lockedUntil, expiresAt time.Time
}

// insertColumns and insertValues are shared by every dialect's upsert.
const insertColumns = "(storage_key, namespace, idempotency_key, scope_key, fingerprint, status, result, reservation_token, locked_until, expires_at, created_at, updated_at, completed_at)"
const insertValues = "(?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, NULL)"

func (r newRecord) insertArgs() []any {
	return []any{r.storageKey, r.namespace, r.key, r.scopeKey, r.fingerprint, models.StatusInProgress,
		r.token, r.lockedUntil, r.expiresAt, r.now, r.now}
}
