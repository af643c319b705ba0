package callbacks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Config tells Register what to put in events and where to send them.
type Config struct {
	// Name prefixes the callback names ("<Name>:create_before"…).
	// Default "gormkit".
	Name string
	// Port and Provider are copied into every event.
	Port     string
	Provider string
	// ParamValues copies bind values into QueryEvent.Params. Off by default:
	// values often carry personal data and secrets.
	ParamValues bool
	// Observers receive every event, in order.
	Observers []Observer
}

// startKey keys a statement's start time in its Settings map. Each
// statement carries its own start, so concurrent statements never share it.
type startKey struct{}

// Register installs a before/after pair on each of GORM's six processors.
// It fails if callbacks named after cfg.Name are already registered.
func Register(db *gorm.DB, cfg Config) error {
	if cfg.Name == "" {
		cfg.Name = "gormkit"
	}
	if db.Callback().Query().Get(cfg.Name+":query_before") != nil {
		return fmt.Errorf("gormkit: callbacks %q are already registered on this *gorm.DB", cfg.Name)
	}
	cb := db.Callback()
	// GORM's processor type is unexported, so each step carries its two
	// registrations as closures. "gorm:<op>" builds and runs the statement:
	// the SQL exists only after it, so the event is made in the after hook.
	type register func(name string, fn func(*gorm.DB)) error
	steps := []struct {
		op            Operation
		before, after register
	}{
		{OpCreate, cb.Create().Before("gorm:create").Register, cb.Create().After("gorm:create").Register},
		{OpQuery, cb.Query().Before("gorm:query").Register, cb.Query().After("gorm:query").Register},
		{OpUpdate, cb.Update().Before("gorm:update").Register, cb.Update().After("gorm:update").Register},
		{OpDelete, cb.Delete().Before("gorm:delete").Register, cb.Delete().After("gorm:delete").Register},
		{OpRow, cb.Row().Before("gorm:row").Register, cb.Row().After("gorm:row").Register},
		{OpRaw, cb.Raw().Before("gorm:raw").Register, cb.Raw().After("gorm:raw").Register},
	}
	for _, s := range steps {
		name := cfg.Name + ":" + string(s.op)
		if err := s.before(name+"_before", before); err != nil {
			return fmt.Errorf("gormkit: register %s_before: %w", name, err)
		}
		if err := s.after(name+"_after", cfg.after(s.op)); err != nil {
			return fmt.Errorf("gormkit: register %s_after: %w", name, err)
		}
	}
	remember(db, cfg)
	return nil
}

func before(db *gorm.DB) {
	if db.Statement != nil {
		db.Statement.Settings.Store(startKey{}, time.Now())
	}
}

func (cfg Config) after(op Operation) func(*gorm.DB) {
	return func(db *gorm.DB) {
		stmt := db.Statement
		if stmt == nil || stmt.DryRun || len(cfg.Observers) == 0 {
			return
		}
		var start time.Time
		if v, ok := stmt.Settings.Load(startKey{}); ok {
			start, _ = v.(time.Time)
		}
		e := QueryEvent{
			SQL:          stmt.SQL.String(),
			Operation:    op,
			Table:        stmt.Table,
			ParamCount:   len(stmt.Vars),
			Params:       stmt.Vars,
			RowsAffected: db.RowsAffected,
			Time:         start,
			Err:          db.Error,
		}
		if !start.IsZero() {
			e.Duration = time.Since(start)
		}
		cfg.emit(stmt.Context, e)
	}
}

// emit completes e with what cfg says and hands it to cfg's observers: it
// sets Port and Provider, keeps a copy of Params only when ParamValues is
// on (otherwise it also removes values a driver quoted in the error text),
// and drops gorm.ErrRecordNotFound, which is not an error event. Both
// the after hooks and Report use it.
func (cfg Config) emit(ctx context.Context, e QueryEvent) {
	if len(cfg.Observers) == 0 {
		return
	}
	e.Port, e.Provider = cfg.Port, cfg.Provider
	if errors.Is(e.Err, gorm.ErrRecordNotFound) {
		e.Err = nil
	}
	if cfg.ParamValues {
		e.Params = append([]any(nil), e.Params...)
	} else {
		e.Params = nil
		e.Err = redactValues(e.Err) // drivers quote values in some errors
	}
	if ctx == nil {
		ctx = context.Background()
	}
	for _, o := range cfg.Observers {
		o.Observe(ctx, e)
	}
}
