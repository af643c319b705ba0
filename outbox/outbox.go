package outbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/gormkit/gormkit/internal/dialect"
	"github.com/gormkit/gormkit/models"
)

// Message kinds.
const (
	// KindEvent is a domain event, fanned out to whoever subscribes.
	KindEvent = models.KindEvent
	// KindJob is a command for exactly one handler.
	KindJob = models.KindJob
)

// Message statuses, as stored in the status column.
const (
	StatusPending      = models.StatusPending
	StatusDelivered    = models.StatusDelivered
	StatusDeadLettered = models.StatusDeadLettered
)

// Errors returned by the outbox. Test them with errors.Is.
var (
	// ErrClaimLost is returned by a write-back whose claim no longer holds:
	// the lease expired and another worker claimed the message, or the
	// message was already delivered, retried or dead-lettered. Batched
	// write-backs return a *ClaimLostError that matches it.
	ErrClaimLost = errors.New("outbox: claim lost")
	// ErrInvalid wraps every validation error, returned before any SQL runs.
	ErrInvalid = errors.New("outbox: invalid argument")
	// ErrNoHandler is the failure recorded for a claimed message that no
	// relay handler is registered for.
	ErrNoHandler = errors.New("outbox: no handler")
)

// ClaimLostError lists the messages of a batched write-back whose claim was
// lost; the others were written. errors.Is(err, ErrClaimLost) is true.
type ClaimLostError struct {
	// IDs are the messages that were not written back.
	IDs []string
}

// Error implements error.
func (e *ClaimLostError) Error() string {
	return fmt.Sprintf("outbox: claim lost for %d message(s): %s", len(e.IDs), strings.Join(e.IDs, ", "))
}

// Is makes errors.Is(err, ErrClaimLost) true.
func (e *ClaimLostError) Is(target error) bool { return target == ErrClaimLost }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// Outbox writes messages to the outbox table and claims them for delivery.
// It is safe for concurrent use.
type Outbox struct {
	db      *gorm.DB
	cfg     Config
	dialect dialect.Name
	sql     dialectSQL
	table   string // quoted, ready to splice

	insertOne stmtText // the INSERT of one row
	inserts   sync.Map // row count -> stmtText, INSERTs of more rows
}

// New returns an outbox on db. The table name is validated before any SQL
// is built; New does not touch the database (migrate it with
// gormkit.AutoMigrate or the DDL from gormkit.SetupStatements).
func New(db *gorm.DB, cfg Config) (*Outbox, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d, err := dialect.Of(db)
	if err != nil {
		return nil, err
	}
	o := &Outbox{db: db, cfg: cfg, dialect: d, sql: sqlFor(d), table: d.Quote(cfg.Table)}
	o.insertOne = newStmt(d, o.insertSQL(1))
	return o, nil
}

// Table returns the outbox table name.
func (o *Outbox) Table() string { return o.cfg.Table }

// now is the clock reading every statement binds, in the stored precision.
func (o *Outbox) now() time.Time { return models.UTC(o.cfg.Now()) }

// Message is a claimed message as a handler sees it.
type Message struct {
	// ID identifies the message; handlers use it to deduplicate, since
	// delivery is at least once.
	ID string
	// Kind is KindEvent or KindJob.
	Kind string
	// Name routes the message, e.g. "order.placed" or "email.send".
	Name string
	// Payload is the JSON written by Enqueue.
	Payload json.RawMessage
	// Headers carry metadata such as trace context; nil when none.
	Headers map[string]string
	// Attempt is this delivery's number, 1 on the first.
	Attempt int
	// MaxAttempts is the number of attempts before the message is
	// dead-lettered.
	MaxAttempts int
	// CreatedAt is when the message was enqueued (UTC).
	CreatedAt time.Time
	// AvailableAt is when the message became claimable (UTC).
	AvailableAt time.Time
	// ClaimToken identifies the claim; write-backs compare it.
	ClaimToken string
	// LockedUntil is the end of the claim's lease (UTC).
	LockedUntil time.Time

	// headerErr is set when the stored headers are not a JSON object of
	// strings; the relay dead-letters such a message.
	headerErr error
}

// LastAttempt reports whether a failure of this attempt dead-letters the
// message.
func (m Message) LastAttempt() bool { return m.Attempt >= m.MaxAttempts }
