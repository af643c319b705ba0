package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/ids"
	"github.com/gormkit/gormkit/models"
)

// NewMessage is a message to enqueue.
type NewMessage struct {
	// ID identifies the message, at most 36 characters. Default: a new
	// time-ordered UUID (version 7).
	ID string
	// Kind is KindEvent or KindJob. Required.
	Kind string
	// Name routes the message to its handler, at most 255 characters.
	// Required.
	Name string
	// Payload is stored as JSON: a json.RawMessage is stored as is (and
	// must be valid JSON), anything else is marshalled with encoding/json.
	Payload any
	// Headers carry metadata such as trace context. Default none (NULL).
	Headers map[string]string
	// MaxAttempts is the number of attempts before the message is
	// dead-lettered. Default Config.DefaultMaxAttempts.
	MaxAttempts int
	// AvailableAt delays delivery until this time. Default now.
	AvailableAt time.Time
}

// Limits of the stored columns, checked before any SQL runs.
const (
	maxIDLength   = 36
	maxNameLength = 255
	// columnsPerRow is the number of values one row binds; status and
	// attempts are literals.
	columnsPerRow = 9
)

// Enqueue writes msgs and returns their IDs in order. Inside a gormkit unit
// of work on the outbox's database (ctx carries its transaction) the
// messages join that transaction; otherwise they are written with the
// outbox's own handle. Use EnqueueTx to name the transaction explicitly.
func (o *Outbox) Enqueue(ctx context.Context, msgs ...NewMessage) ([]string, error) {
	if ctx == nil {
		return nil, invalid("nil context")
	}
	return o.EnqueueTx(ctx, gormkit.DBFromContext(ctx, o.db), msgs...)
}

// EnqueueTx writes msgs with tx, a root handle or the transaction handle of
// a unit of work, so the messages commit or roll back with the business
// rows. All messages are validated before any SQL runs, then written with
// one INSERT (one per 1,000 messages; per 100 on SQLite; several INSERTs
// on a root handle run in a transaction of their own, so they are written
// all or none). It returns the IDs in order. ctx bounds the INSERT; when
// nil, tx's context is used.
//
// The INSERT runs on tx's connection pool without GORM's statement
// builder: GORM's logger and gormkit's query observers report it, but
// callbacks other plugins registered on GORM's raw processor do not run.
func (o *Outbox) EnqueueTx(ctx context.Context, tx *gorm.DB, msgs ...NewMessage) ([]string, error) {
	if tx == nil {
		return nil, invalid("nil transaction handle")
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	now := o.now()
	rows := make([]any, 0, len(msgs)*columnsPerRow)
	out := make([]string, len(msgs))
	for i, m := range msgs {
		r, err := o.row(m, now)
		if err != nil {
			if len(msgs) > 1 {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			return nil, err
		}
		out[i] = r[0].(string)
		rows = append(rows, r...)
	}
	chunk := o.sql.maxInsertRows()
	insert := func(tx *gorm.DB) error {
		for start := 0; start < len(msgs); start += chunk {
			n := min(chunk, len(msgs)-start)
			if _, err := o.exec(ctx, tx, o.insertStmt(n), rows[start*columnsPerRow:(start+n)*columnsPerRow]); err != nil {
				return fmt.Errorf("outbox: enqueue: %w", err)
			}
		}
		return nil
	}
	var err error
	if _, inTx := tx.Statement.ConnPool.(gorm.TxCommitter); len(msgs) > chunk && !inTx && !tx.DryRun && tx.Error == nil {
		// Several INSERTs outside a transaction: one of their own, so a
		// failure leaves none of the messages behind.
		h := tx
		if ctx != nil {
			h = tx.WithContext(ctx)
		}
		err = h.Transaction(insert)
	} else {
		err = insert(tx)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// insertStmt returns the INSERT of n rows, built once per row count.
func (o *Outbox) insertStmt(n int) stmtText {
	if n == 1 {
		return o.insertOne
	}
	if s, ok := o.inserts.Load(n); ok {
		return s.(stmtText)
	}
	s := newStmt(o.dialect, o.insertSQL(n))
	o.inserts.Store(n, s)
	return s
}

// insertSQL returns an INSERT of n rows.
func (o *Outbox) insertSQL(n int) string {
	const values = "(?,?,?,?,?," + sqlPending + ",0,?,?,?,?)"
	var b strings.Builder
	b.Grow(120 + n*(len(values)+1))
	b.WriteString("INSERT INTO ")
	b.WriteString(o.table)
	b.WriteString(" (id, kind, name, payload, headers, status, attempts, max_attempts, available_at, created_at, updated_at) VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(values)
	}
	return b.String()
}

// row validates m and returns its bind values in insertSQL's column order.
func (o *Outbox) row(m NewMessage, now time.Time) ([]any, error) {
	if m.Kind != KindEvent && m.Kind != KindJob {
		return nil, invalid("kind %q is not %q or %q", m.Kind, KindEvent, KindJob)
	}
	if m.Name == "" {
		return nil, invalid("message name is empty")
	}
	if len(m.Name) > maxNameLength {
		return nil, invalid("message name is %d bytes long, at most %d allowed", len(m.Name), maxNameLength)
	}
	if len(m.ID) > maxIDLength {
		return nil, invalid("message ID %q is longer than %d characters", m.ID, maxIDLength)
	}
	if m.MaxAttempts < 0 {
		return nil, invalid("MaxAttempts is %d, want 0 (the default) or more", m.MaxAttempts)
	}
	payload, err := encodePayload(m.Payload)
	if err != nil {
		return nil, err
	}
	var headers any // untyped nil binds NULL on every driver
	if m.Headers != nil {
		h, err := json.Marshal(m.Headers)
		if err != nil {
			return nil, invalid("headers: %v", err)
		}
		headers = string(h)
	}
	id := m.ID
	if id == "" {
		id = ids.NewV7(now)
	}
	maxAttempts := m.MaxAttempts
	if maxAttempts == 0 {
		maxAttempts = o.cfg.DefaultMaxAttempts
	}
	availableAt := now
	if !m.AvailableAt.IsZero() {
		availableAt = models.UTC(m.AvailableAt)
	}
	return []any{id, m.Kind, m.Name, payload, headers, maxAttempts, availableAt, now, now}, nil
}

// encodePayload returns the JSON text of a payload.
func encodePayload(p any) (string, error) {
	switch v := p.(type) {
	case json.RawMessage:
		if !json.Valid(v) {
			return "", invalid("payload is not valid JSON")
		}
		return string(v), nil
	case models.JSON:
		if !json.Valid(v) {
			return "", invalid("payload is not valid JSON")
		}
		return string(v), nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return "", invalid("payload: %v", err)
	}
	return string(b), nil
}

// EventWriter returns a gormkit.EventWriter that writes the events a unit of
// work records as KindEvent messages in its transaction, just before it
// commits (gormkit.WithEventWriter). An event's ID becomes the message ID
// and is filled in when empty; Payload and Headers are stored as in
// NewMessage.
func (o *Outbox) EventWriter() gormkit.EventWriter { return eventWriter{o} }

type eventWriter struct{ o *Outbox }

// WriteEvents implements gormkit.EventWriter.
func (w eventWriter) WriteEvents(ctx context.Context, tx *gorm.DB, events []gormkit.Event) error {
	msgs := make([]NewMessage, len(events))
	for i, e := range events {
		msgs[i] = NewMessage{ID: e.ID, Kind: KindEvent, Name: e.Name, Payload: e.Payload, Headers: e.Headers}
	}
	written, err := w.o.EnqueueTx(ctx, tx, msgs...)
	if err != nil {
		return err
	}
	for i := range events {
		events[i].ID = written[i]
	}
	return nil
}
