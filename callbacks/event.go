// Package callbacks turns every SQL statement GORM runs into a QueryEvent
// and hands it to observers: a log/slog logger, an in-memory Recorder, or
// your own. Register installs before/after callbacks on GORM's six
// processors (create, query, update, delete, row and raw); the gormkit
// plugin calls it for you.
package callbacks

import (
	"context"
	"time"
)

// Operation is the GORM processor a statement ran through.
type Operation string

// GORM's processors. Raw(...).Scan runs through OpRow; Exec through OpRaw.
const (
	OpCreate Operation = "create"
	OpQuery  Operation = "query"
	OpUpdate Operation = "update"
	OpDelete Operation = "delete"
	OpRow    Operation = "row"
	OpRaw    Operation = "raw"
)

// QueryEvent describes one finished statement.
type QueryEvent struct {
	// SQL is the statement text with bind placeholders; values are never
	// spliced into it.
	SQL string
	// Operation is the processor the statement ran through.
	Operation Operation
	// Table is the statement's table, when GORM knows it.
	Table string
	// ParamCount is the number of bind parameters.
	ParamCount int
	// Params holds the parameter values only when the plugin was built with
	// WithParamValues; otherwise nil, so secrets never reach a log.
	Params []any
	// RowsAffected is the rows written, or returned by a query; -1 for
	// Row/Rows, whose caller reads the rows after the statement.
	RowsAffected int64
	// Duration is the time from the before to the after callback.
	Duration time.Duration
	// Err is the statement's error; gorm.ErrRecordNotFound is not reported.
	// Without WithParamValues, values a driver quotes in its error text
	// (MySQL's "Duplicate entry '…'") read as '?'; errors.Is and errors.As
	// still reach the driver's error.
	Err error
	// Port and Provider name the database handle (e.g. "db",
	// "gormkit-postgres").
	Port     string
	Provider string
	// Time is when the statement started.
	Time time.Time
}

// Observer receives query events. Observe runs on the goroutine that ran the
// statement, so it must be quick and safe for concurrent use.
type Observer interface {
	Observe(ctx context.Context, e QueryEvent)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ctx context.Context, e QueryEvent)

// Observe calls f.
func (f ObserverFunc) Observe(ctx context.Context, e QueryEvent) { f(ctx, e) }
