package callbacks

import (
	"context"
	"log/slog"
	"time"
)

// SlogObserver logs query events: errors at Error, statements at or over
// SlowThreshold at Warn, the rest at Debug.
type SlogObserver struct {
	// Logger receives the records. Default slog.Default().
	Logger *slog.Logger
	// SlowThreshold marks slow statements. Zero disables the Warn level.
	SlowThreshold time.Duration
}

// NewSlogObserver returns an observer that logs to logger, warning about
// statements slower than slow.
func NewSlogObserver(logger *slog.Logger, slow time.Duration) *SlogObserver {
	return &SlogObserver{Logger: logger, SlowThreshold: slow}
}

// Observe implements Observer.
func (o *SlogObserver) Observe(ctx context.Context, e QueryEvent) {
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	level, msg := slog.LevelDebug, "query"
	switch {
	case e.Err != nil:
		level, msg = slog.LevelError, "query failed"
	case o.SlowThreshold > 0 && e.Duration >= o.SlowThreshold:
		level, msg = slog.LevelWarn, "slow query"
	}
	if !logger.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("sql", e.SQL),
		slog.String("op", string(e.Operation)),
		slog.String("table", e.Table),
		slog.Int("params", e.ParamCount),
		slog.Int64("rows", e.RowsAffected),
		slog.Duration("duration", e.Duration),
		slog.String("port", e.Port),
		slog.String("provider", e.Provider),
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("error", e.Err.Error()))
	}
	logger.LogAttrs(ctx, level, msg, attrs...)
}
