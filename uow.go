package gormkit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/gormkit/gormkit/internal/dialect"
)

// Event is a domain event recorded inside a unit of work.
type Event struct {
	// ID identifies the event. An EventWriter such as the outbox fills it
	// when empty, before the event is published.
	ID string
	// Name is the event type, e.g. "order.placed".
	Name string
	// Payload is marshalled to JSON by writers that persist it.
	Payload any
	// Headers carry metadata such as trace context.
	Headers map[string]string
}

// EventRecorder is handed to the unit of work's build function; ports call
// Record to note domain events. Recording is cheap and safe for concurrent
// use: events are held in memory until the transaction ends.
type EventRecorder interface {
	Record(events ...Event)
}

// EventBus receives the events of a committed transaction, in record order.
type EventBus interface {
	Publish(ctx context.Context, events []Event) error
}

// EventBusFunc adapts a function to EventBus.
type EventBusFunc func(ctx context.Context, events []Event) error

// Publish calls f.
func (f EventBusFunc) Publish(ctx context.Context, events []Event) error { return f(ctx, events) }

// EventWriter persists recorded events inside the business transaction,
// just before it commits; the outbox provides one. It may set Event.ID.
type EventWriter interface {
	WriteEvents(ctx context.Context, tx *gorm.DB, events []Event) error
}

// Errors returned by Transaction.
var (
	// ErrPublishAfterCommit wraps the EventBus error when the transaction
	// committed but publishing failed: the data is stored, the events were
	// not delivered. Use the outbox when delivery must be durable.
	ErrPublishAfterCommit = errors.New("gormkit: transaction committed but publishing its events failed")
	// ErrRollbackOnly is returned by the outermost Transaction when a joined
	// inner unit of work failed without a savepoint to roll back to: its
	// writes cannot be undone alone, so the whole transaction rolls back.
	ErrRollbackOnly = errors.New("gormkit: an inner unit of work failed; the transaction was rolled back")
)

// UnitOfWork runs functions in one transaction with transaction-scoped
// ports of type T and publishes their recorded events after commit.
type UnitOfWork[T any] struct {
	db    *gorm.DB
	build func(tx *gorm.DB, events EventRecorder) T
	opts  uowOptions
}

type uowOptions struct {
	bus        EventBus
	writer     EventWriter
	txOptions  *sql.TxOptions
	savepoints bool
	attempts   int
}

// UnitOfWorkOption configures NewUnitOfWork.
type UnitOfWorkOption func(*uowOptions)

// WithEventBus publishes recorded events to bus after the outermost commit.
func WithEventBus(bus EventBus) UnitOfWorkOption {
	return func(o *uowOptions) { o.bus = bus }
}

// WithEventWriter writes recorded events with w inside the transaction
// before it commits (the outbox's EventWriter makes delivery durable).
func WithEventWriter(w EventWriter) UnitOfWorkOption {
	return func(o *uowOptions) { o.writer = w }
}

// WithTxOptions sets isolation level and read-only mode of transactions the
// unit of work begins.
func WithTxOptions(opts *sql.TxOptions) UnitOfWorkOption {
	return func(o *uowOptions) { o.txOptions = opts }
}

// WithSavepoints makes a unit of work that joins a transaction already in
// the context run inside a savepoint, so its failure rolls back only its own
// writes and events. Without it, an inner failure dooms the transaction
// (ErrRollbackOnly).
func WithSavepoints() UnitOfWorkOption {
	return func(o *uowOptions) { o.savepoints = true }
}

// WithRetry runs the whole transaction up to attempts times when it fails
// with a serialization failure, deadlock or lock timeout. The function must
// be safe to run again. Joined transactions are never retried on their own.
func WithRetry(attempts int) UnitOfWorkOption {
	return func(o *uowOptions) { o.attempts = attempts }
}

// NewUnitOfWork returns a unit of work on db. build runs once per
// transaction, on the transaction handle, and returns the ports the
// function sees; every port built from tx commits or rolls back with it.
func NewUnitOfWork[T any](db *gorm.DB, build func(tx *gorm.DB, events EventRecorder) T, opts ...UnitOfWorkOption) *UnitOfWork[T] {
	u := &UnitOfWork[T]{db: db, build: build, opts: uowOptions{attempts: 1}}
	for _, o := range opts {
		o(&u.opts)
	}
	if u.opts.attempts < 1 {
		u.opts.attempts = 1
	}
	return u
}

// Transact runs fn in u's transaction and returns its value.
func Transact[T, R any](ctx context.Context, u *UnitOfWork[T], fn func(ctx context.Context, ports T) (R, error)) (R, error) {
	var out R
	err := u.Transaction(ctx, func(ctx context.Context, ports T) error {
		var err error
		out, err = fn(ctx, ports)
		return err
	})
	if err != nil && !errors.Is(err, ErrPublishAfterCommit) {
		var zero R
		return zero, err
	}
	return out, err
}

// TxFromContext returns the transaction handle of the unit of work running
// in ctx, so code below a use case can join it.
func TxFromContext(ctx context.Context) (*gorm.DB, bool) {
	if st, ok := ctx.Value(txStateKey{}).(*txState); ok {
		return st.tx, true
	}
	return nil, false
}

// DBFromContext returns the transaction of the unit of work running in ctx
// when it runs on db's database, and db otherwise, bound to ctx. Stores use
// it so that a call made inside a unit of work joins its transaction.
func DBFromContext(ctx context.Context, db *gorm.DB) *gorm.DB {
	// A transaction keeps the pool it began on in its Config, which is how
	// a unit of work recognizes its database.
	if st, ok := ctx.Value(txStateKey{}).(*txState); ok && st.pool == db.ConnPool {
		return st.tx.WithContext(ctx)
	}
	return db.WithContext(ctx)
}

// Transaction runs fn in a transaction with the ports built for it.
//
// fn returning nil commits; an error or a panic rolls back (a panic is
// re-raised) and no event is published. If ctx already carries a gormkit
// transaction on the same database, fn joins it instead of opening a second
// one, and its events are published when that outermost transaction commits.
// After commit, events go to the EventBus in record order; a bus failure is
// returned wrapped in ErrPublishAfterCommit.
func (u *UnitOfWork[T]) Transaction(ctx context.Context, fn func(ctx context.Context, ports T) error) error {
	if st, ok := ctx.Value(txStateKey{}).(*txState); ok && st.pool == u.db.ConnPool {
		return u.join(ctx, st, fn)
	}
	var err error
	for attempt := 1; ; attempt++ {
		var st *txState
		st, err = u.runOutermost(ctx, fn)
		if err == nil {
			return st.publish(ctx)
		}
		if attempt >= u.opts.attempts || !dialect.IsRetryable(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
		}
	}
}

func (u *UnitOfWork[T]) runOutermost(ctx context.Context, fn func(context.Context, T) error) (*txState, error) {
	tx := u.db.WithContext(ctx).Begin(u.opts.txOptions)
	if tx.Error != nil {
		return nil, fmt.Errorf("gormkit: begin transaction: %w", tx.Error)
	}
	st := &txState{pool: u.db.ConnPool}
	ctx = context.WithValue(ctx, txStateKey{}, st)
	st.tx = tx.WithContext(ctx)
	done := false
	defer func() {
		if !done { // an error or a panic on its way up
			tx.Rollback()
		}
	}()
	if err := u.run(ctx, st, fn); err != nil {
		return nil, err
	}
	if st.rollbackOnly != nil {
		return nil, fmt.Errorf("%w: %w", ErrRollbackOnly, st.rollbackOnly)
	}
	if err := st.writeEvents(ctx); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("gormkit: transaction not committed: %w", err)
	}
	if err := tx.Commit().Error; err != nil {
		return nil, fmt.Errorf("gormkit: commit: %w", err)
	}
	done = true
	return st, nil
}

func (u *UnitOfWork[T]) join(ctx context.Context, st *txState, fn func(context.Context, T) error) error {
	if !u.opts.savepoints {
		ok := false
		defer func() {
			if !ok { // a panic on its way up, which a caller may recover
				st.markRollbackOnly(errJoinedPanic)
			}
		}()
		if err := u.run(ctx, st, fn); err != nil {
			st.markRollbackOnly(err)
			return err
		}
		ok = true
		return nil
	}
	name, marks := st.savepoint()
	if err := st.tx.SavePoint(name).Error; err != nil {
		return fmt.Errorf("gormkit: savepoint: %w", err)
	}
	released := false
	defer func() {
		if !released { // error or panic: undo this unit's writes and events
			st.tx.RollbackTo(name)
			st.truncate(marks)
		}
	}()
	if err := u.run(ctx, st, fn); err != nil {
		return err
	}
	released = true
	return nil
}

// run builds the ports once per transaction and calls fn with them.
func (u *UnitOfWork[T]) run(ctx context.Context, st *txState, fn func(context.Context, T) error) error {
	p := st.participant(u, func(rec EventRecorder) any { return u.build(st.tx, rec) }, u.opts.writer, u.opts.bus)
	return fn(ctx, p.ports.(T))
}

// errJoinedPanic dooms a transaction whose joined unit of work panicked: a
// caller that recovers must not commit the unit's partial writes.
var errJoinedPanic = errors.New("gormkit: a joined unit of work panicked")

type txStateKey struct{}

// txState is what a transaction carries in its context.
type txState struct {
	tx           *gorm.DB
	pool         gorm.ConnPool // the pool the transaction began on
	mu           sync.Mutex
	participants []*participant // units of work that ran, in first-use order
	rollbackOnly error
	savepoints   int
}

// participant is one unit of work's ports and recorded events in a
// transaction.
type participant struct {
	owner  any
	ports  any
	writer EventWriter
	bus    EventBus
	mu     sync.Mutex
	events []Event
}

// Record implements EventRecorder.
func (p *participant) Record(events ...Event) {
	p.mu.Lock()
	p.events = append(p.events, events...)
	p.mu.Unlock()
}

func (st *txState) participant(owner any, build func(EventRecorder) any, w EventWriter, bus EventBus) *participant {
	st.mu.Lock()
	for _, p := range st.participants {
		if p.owner == owner {
			st.mu.Unlock()
			return p
		}
	}
	p := &participant{owner: owner, writer: w, bus: bus}
	st.participants = append(st.participants, p)
	st.mu.Unlock()
	p.ports = build(p)
	return p
}

func (st *txState) markRollbackOnly(err error) {
	st.mu.Lock()
	if st.rollbackOnly == nil {
		st.rollbackOnly = err
	}
	st.mu.Unlock()
}

// savepoint names a new savepoint and remembers how many events each
// participant had, so a rollback to it can drop the events recorded since.
func (st *txState) savepoint() (string, map[*participant]int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.savepoints++
	marks := make(map[*participant]int, len(st.participants))
	for _, p := range st.participants {
		p.mu.Lock()
		marks[p] = len(p.events)
		p.mu.Unlock()
	}
	return fmt.Sprintf("gormkit_sp_%d", st.savepoints), marks
}

func (st *txState) truncate(marks map[*participant]int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, p := range st.participants {
		p.mu.Lock()
		p.events = p.events[:marks[p]] // participants new since the mark drop all
		p.mu.Unlock()
	}
}

// writeEvents runs each participant's EventWriter inside the transaction.
func (st *txState) writeEvents(ctx context.Context) error {
	for _, p := range st.participants {
		if p.writer == nil || len(p.events) == 0 {
			continue
		}
		if err := p.writer.WriteEvents(ctx, st.tx, p.events); err != nil {
			return fmt.Errorf("gormkit: write events: %w", err)
		}
	}
	return nil
}

// publish hands each participant's events to its bus after commit.
func (st *txState) publish(ctx context.Context) error {
	var errs []error
	for _, p := range st.participants {
		if p.bus == nil || len(p.events) == 0 {
			continue
		}
		if err := p.bus.Publish(ctx, p.events); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrPublishAfterCommit, errors.Join(errs...))
	}
	return nil
}
