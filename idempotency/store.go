package idempotency

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/dialect"
	"github.com/gormkit/gormkit/internal/ids"
	"github.com/gormkit/gormkit/models"
)

// Config configures a Store. The zero value is ready to use.
type Config struct {
	// Table is the idempotency table. Default models.DefaultIdempotencyTable
	// ("idempotency_records"). It is validated as an SQL identifier before
	// any SQL runs.
	Table string
	// Now is the clock. Default time.Now. Times are converted with
	// models.UTC before they are bound; SQL never reads the server's clock.
	Now func() time.Time
	// Retention is how long a completed result is kept and replayed, unless
	// the Request sets its own. Default 24h.
	Retention time.Duration
	// Lease is how long an attempt holds a key before another caller may
	// take it over, unless the Request sets its own. Default 1m.
	Lease time.Duration
}

// Defaults of Config.
const (
	DefaultRetention = 24 * time.Hour
	DefaultLease     = time.Minute
)

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Table == "" {
		c.Table = models.DefaultIdempotencyTable
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.Lease == 0 {
		c.Lease = DefaultLease
	}
	return c
}

func (c Config) validate() error {
	if err := models.ValidateTableName(c.Table); err != nil {
		return err
	}
	if c.Retention < 0 || c.Lease < 0 {
		return fmt.Errorf("idempotency: Config.Retention and Config.Lease must not be negative")
	}
	return nil
}

// Store reserves, completes and releases idempotency records in one table.
// It is safe for concurrent use.
//
// Every method runs on the transaction of the gormkit unit of work carried
// in ctx (see gormkit.TxFromContext) when that transaction belongs to the
// store's database, and on the store's handle otherwise. A store made by
// WithTx, or by NewStore on a transaction handle, always uses that
// transaction.
type Store struct {
	db    *gorm.DB
	bound bool // db is a transaction: never switch to the one in ctx
	cfg   Config
	table string // validated and quoted
	sql   dialectSQL
}

// NewStore returns a store on db. It validates cfg but runs no SQL; create
// the table with gormkit.AutoMigrate or gormkit.SetupStatements.
func NewStore(db *gorm.DB, cfg Config) (*Store, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	name, err := dialect.Of(db)
	if err != nil {
		return nil, err
	}
	var sql dialectSQL
	switch name {
	case dialect.Postgres:
		sql = postgresSQL{}
	case dialect.SQLite:
		sql = sqliteSQL{}
	case dialect.MySQL:
		sql = newMySQLSQL(db)
	}
	return &Store{db: db, bound: inTx(db), cfg: cfg, table: name.Quote(cfg.Table), sql: sql}, nil
}

// WithTx returns a copy of s that runs every statement on tx, so that
// reservations, completions and the caller's writes in tx commit or roll
// back together.
func (s *Store) WithTx(tx *gorm.DB) *Store {
	c := *s
	c.db, c.bound = tx, true
	return &c
}

// Config returns the store's configuration with defaults applied.
func (s *Store) Config() Config { return s.cfg }

// handle picks the transaction in ctx (when it is on the store's database)
// or the store's own handle.
func (s *Store) handle(ctx context.Context) *gorm.DB {
	if s.bound {
		return s.db.WithContext(ctx)
	}
	return gormkit.DBFromContext(ctx, s.db)
}

func inTx(db *gorm.DB) bool {
	_, ok := db.Statement.ConnPool.(gorm.TxCommitter)
	return ok
}

func (s *Store) now() time.Time { return models.UTC(s.cfg.Now()) }

// Outcome is the result of a reservation.
type Outcome int

// Reservation outcomes.
const (
	// Acquired: the caller holds the key and must Complete or Fail it.
	Acquired Outcome = iota + 1
	// Replay: the command completed before; Reservation.Result holds its
	// stored result.
	Replay
	// InProgress: another attempt holds the key until
	// Reservation.LockedUntil.
	InProgress
	// FingerprintMismatch: the key was used with a different fingerprint.
	FingerprintMismatch
)

// String returns the outcome's name.
func (o Outcome) String() string {
	switch o {
	case Acquired:
		return "acquired"
	case Replay:
		return "replay"
	case InProgress:
		return "in_progress"
	case FingerprintMismatch:
		return "fingerprint_mismatch"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Reservation is the answer of Reserve, and the handle Complete and Fail
// take.
type Reservation struct {
	// Outcome says what the caller may do.
	Outcome Outcome
	// Namespace, Key and ScopeKey identify the record; StorageKey is its
	// primary key.
	Namespace  string
	Key        string
	ScopeKey   string
	StorageKey string
	// Fingerprint is the request's fingerprint.
	Fingerprint string
	// Token is the reservation token when Acquired.
	Token string
	// Result is the stored result on Replay.
	Result []byte
	// LockedUntil is when the lease ends: the caller's own when Acquired,
	// the holder's when InProgress.
	LockedUntil time.Time
	// ExpiresAt is when the record's retention ends.
	ExpiresAt time.Time

	retention time.Duration
}

// maxReserveAttempts bounds the loop that retries when the row changes
// between the upsert and the read that classifies it, and on deadlocks or
// busy errors outside a transaction.
const maxReserveAttempts = 8

// Reserve reserves req's key in one atomic step: it inserts a new
// in-progress record, or takes over one whose retention expired or whose
// in-progress lease ran out (with the same fingerprint). Otherwise it
// reports Replay with the stored result, InProgress, or
// FingerprintMismatch; the fingerprint is compared first, so a mismatch is
// reported even while the record is in progress. Validation errors wrap
// ErrInvalidRequest and come before any SQL.
func (s *Store) Reserve(ctx context.Context, req Request) (*Reservation, error) {
	id, err := req.resolve(s.cfg)
	if err != nil {
		return nil, err
	}
	db := s.handle(ctx)
	retryErrors := !inTx(db) // a failed statement may doom a transaction
	for attempt := 1; ; attempt++ {
		r, err := s.reserveOnce(db, id)
		switch {
		case err == nil && r != nil:
			return r, nil
		case err != nil && !(retryErrors && dialect.IsRetryable(err)):
			return nil, fmt.Errorf("idempotency: reserve %s/%q: %w", id.namespace, id.key, err)
		case attempt >= maxReserveAttempts:
			if err == nil {
				err = errors.New("the record kept changing")
			}
			return nil, fmt.Errorf("idempotency: reserve %s/%q: gave up after %d attempts: %w", id.namespace, id.key, attempt, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("idempotency: reserve %s/%q: %w", id.namespace, id.key, ctx.Err())
		case <-time.After(time.Duration(attempt) * 5 * time.Millisecond):
		}
	}
}

// reserveOnce runs the upsert and, when it did not acquire, classifies the
// row. A nil reservation and error means the row changed in between.
func (s *Store) reserveOnce(db *gorm.DB, id identity) (*Reservation, error) {
	now := s.now()
	rec := newRecord{identity: id, token: ids.Token(), now: now, lockedUntil: now.Add(id.lease), expiresAt: now.Add(max(id.retention, id.lease))}
	res := &Reservation{
		Namespace: id.namespace, Key: id.key, ScopeKey: id.scopeKey, StorageKey: id.storageKey,
		Fingerprint: id.fingerprint, retention: id.retention,
	}
	acquired := func() *Reservation {
		res.Outcome, res.Token, res.LockedUntil, res.ExpiresAt = Acquired, rec.token, rec.lockedUntil, rec.expiresAt
		return res
	}
	state, err := s.sql.reserve(db, s.table, rec)
	if err != nil {
		return nil, err
	}
	if state == upsertAcquired {
		return acquired(), nil
	}
	var cur models.IdempotencyRecord
	q := db.Raw("SELECT fingerprint, status, result, reservation_token, locked_until, expires_at FROM "+s.table+" WHERE storage_key = ?"+s.sql.readLatest(), id.storageKey).Scan(&cur)
	if q.Error != nil {
		return nil, q.Error
	}
	if q.RowsAffected == 0 {
		return nil, nil // released or purged since the upsert
	}
	switch {
	case cur.ReservationToken == rec.token:
		return acquired(), nil // the upsert could not tell (MySQL counting found rows)
	case !cur.ExpiresAt.After(now):
		return nil, nil // replaced since the upsert; try again
	case cur.Fingerprint != id.fingerprint:
		res.Outcome, res.ExpiresAt = FingerprintMismatch, cur.ExpiresAt
	case cur.Status == models.StatusCompleted:
		res.Outcome, res.Result, res.ExpiresAt = Replay, cur.Result, cur.ExpiresAt
	case cur.Status == models.StatusInProgress && cur.LockedUntil != nil && cur.LockedUntil.After(now):
		res.Outcome, res.LockedUntil, res.ExpiresAt = InProgress, *cur.LockedUntil, cur.ExpiresAt
	case cur.Status == models.StatusInProgress:
		return nil, nil // lease ran out since the upsert; try again
	default:
		return nil, fmt.Errorf("record has unknown status %q", cur.Status)
	}
	return res, nil
}

// Complete stores result for an Acquired reservation and marks the record
// completed; it is replayed until Retention after now. It is a
// compare-and-set on the in-progress reservation: if the reservation is not
// Acquired, or the record is no longer in progress under this token and
// fingerprint, it returns a *MutationError.
func (s *Store) Complete(ctx context.Context, r *Reservation, result []byte) error {
	if err := checkAcquired(ActionComplete, r); err != nil {
		return err
	}
	now := s.now()
	if result == nil {
		result = []byte{}
	}
	q := s.handle(ctx).Exec("UPDATE "+s.table+" SET status = ?, result = ?, locked_until = NULL, expires_at = ?, updated_at = ?, completed_at = ?"+
		" WHERE storage_key = ? AND "+s.sql.equal("reservation_token")+" AND status = ? AND "+s.sql.equal("fingerprint"),
		models.StatusCompleted, result, now.Add(r.retention), now, now,
		r.StorageKey, r.Token, models.StatusInProgress, r.Fingerprint)
	return mutationResult(ActionComplete, r, q)
}

// Fail releases an Acquired reservation: the in-progress record is deleted,
// so the key is free for the next attempt. It is a compare-and-set like
// Complete and returns a *MutationError when nothing matched.
func (s *Store) Fail(ctx context.Context, r *Reservation) error {
	if err := checkAcquired(ActionFail, r); err != nil {
		return err
	}
	q := s.handle(ctx).Exec("DELETE FROM "+s.table+
		" WHERE storage_key = ? AND "+s.sql.equal("reservation_token")+" AND status = ? AND "+s.sql.equal("fingerprint"),
		r.StorageKey, r.Token, models.StatusInProgress, r.Fingerprint)
	return mutationResult(ActionFail, r, q)
}

func checkAcquired(action string, r *Reservation) error {
	if r == nil {
		return &MutationError{Action: action, Reason: "nil reservation"}
	}
	if r.Outcome != Acquired || r.Token == "" {
		return &MutationError{Action: action, Namespace: r.Namespace, Key: r.Key, ScopeKey: r.ScopeKey,
			Reason: fmt.Sprintf("reservation was not acquired (outcome %s)", r.Outcome)}
	}
	return nil
}

func mutationResult(action string, r *Reservation, q *gorm.DB) error {
	if q.Error != nil {
		return fmt.Errorf("idempotency: %s %s/%q: %w", action, r.Namespace, r.Key, q.Error)
	}
	if q.RowsAffected == 0 {
		return &MutationError{Action: action, Namespace: r.Namespace, Key: r.Key, ScopeKey: r.ScopeKey}
	}
	return nil
}

// DefaultPurgeBatch is the batch size Purge uses when given zero or less.
const DefaultPurgeBatch = 1000

// Purge deletes records whose retention has expired, batchSize rows per
// statement (default DefaultPurgeBatch), until none is left, and returns how
// many it deleted. Run it from cron or `gormkit idempotency purge`.
func (s *Store) Purge(ctx context.Context, batchSize int) (int64, error) {
	if batchSize <= 0 {
		batchSize = DefaultPurgeBatch
	}
	now := s.now()
	db := s.handle(ctx)
	var total int64
	for {
		n, err := s.sql.purge(db, s.table, now, batchSize)
		total += n
		if err != nil {
			return total, fmt.Errorf("idempotency: purge: %w", err)
		}
		if n < int64(batchSize) {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}
