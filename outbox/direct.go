package outbox

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/gormkit/gormkit/callbacks"
	"github.com/gormkit/gormkit/internal/dialect"
)

// The outbox's hot statements (the enqueue INSERT) are fixed texts with
// positional values, so they skip GORM's statement builder: the text is
// built once in the driver's own placeholders and run on the handle's
// connection pool (db.Statement.ConnPool: the *sql.DB, the *sql.Tx of a
// transaction, or GORM's prepared-statement pools). What GORM would do
// around the statement is kept: the handle's error, dry run, context and
// default timeout, error translation, GORM's logger and gormkit's query
// observers (callbacks.Report). Callbacks other plugins registered on
// GORM's raw processor do not see these statements.

// stmtText is one statement in both forms the outbox runs it in.
type stmtText struct {
	gorm   string // "?" placeholders, for db.Exec in a dry run
	native string // the driver's placeholders, for the connection pool
}

func newStmt(d dialect.Name, q string) stmtText {
	return stmtText{gorm: q, native: d.NativePlaceholders(q)}
}

// exec runs s with args on db and returns the rows affected, as
// db.WithContext(ctx).Exec(s.gorm, args...) would, without building the
// statement again.
func (o *Outbox) exec(ctx context.Context, db *gorm.DB, s stmtText, args []any) (int64, error) {
	if db.Error != nil {
		return 0, db.Error
	}
	stmt := db.Statement
	if ctx == nil && stmt != nil {
		ctx = stmt.Context
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if db.DryRun || stmt == nil || stmt.ConnPool == nil {
		res := db.WithContext(ctx).Exec(s.gorm, args...)
		return res.RowsAffected, res.Error
	}
	if db.DefaultContextTimeout > 0 {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, db.DefaultContextTimeout)
			defer cancel()
		}
	}
	start := time.Now()
	var rows int64
	res, err := stmt.ConnPool.ExecContext(ctx, s.native, args...)
	if err == nil {
		rows, _ = res.RowsAffected()
	} else if db.TranslateError {
		if t, ok := db.Dialector.(gorm.ErrorTranslator); ok {
			err = t.Translate(err)
		}
	}
	o.report(ctx, db, start, s.native, args, rows, err)
	return rows, err
}

// report tells GORM's logger and gormkit's query observers about a
// statement run on the connection pool, as GORM's processors would.
func (o *Outbox) report(ctx context.Context, db *gorm.DB, start time.Time, q string, args []any, rows int64, err error) {
	if db.Logger != nil {
		db.Logger.Trace(ctx, start, func() (string, int64) {
			sql, vars := q, args
			if filter, ok := db.Logger.(gorm.ParamsFilter); ok {
				sql, vars = filter.ParamsFilter(ctx, q, args...)
			}
			return db.Dialector.Explain(sql, vars...), rows
		}, err)
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		err = nil
	}
	callbacks.Report(ctx, db, callbacks.QueryEvent{
		SQL:          q,
		Operation:    callbacks.OpRaw,
		Table:        o.cfg.Table,
		ParamCount:   len(args),
		Params:       args,
		RowsAffected: rows,
		Duration:     time.Since(start),
		Err:          err,
		Time:         start,
	})
}
