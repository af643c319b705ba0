package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for the watermill peer and hand-written loops

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/callbacks"
)

// benchEnv holds the databases of one bench run and everything to remove
// when it ends. The bench starts no server: it uses POSTGRES_DB_URL and
// MYSQL_DB_URL when set and SQLite files in a temp dir.
type benchEnv struct {
	// suffix makes every table and schema name of this process unique, so
	// the bench can share servers with running test suites.
	suffix string
	// schema is the Postgres schema holding the gormkit, hand-written and
	// watermill tables; river gets riverSchema of its own.
	schema      string
	riverSchema string

	pgURL, myURL string
	pgVersion    string
	myVersion    string
	tmpDir       string

	mu       sync.Mutex
	pgPool   *pgxpool.Pool
	myTables []string // MySQL has no schema to drop, so tables are dropped one by one
	cleanups []func(context.Context) error
}

func newBenchEnv(ctx context.Context) (*benchEnv, error) {
	var b [3]byte
	_, _ = rand.Read(b[:])
	e := &benchEnv{
		suffix: fmt.Sprintf("%d_%s", os.Getpid(), hex.EncodeToString(b[:])),
		pgURL:  os.Getenv("POSTGRES_DB_URL"),
		myURL:  os.Getenv("MYSQL_DB_URL"),
	}
	e.schema = "gkbench_" + e.suffix
	e.riverSchema = "gkbench_" + e.suffix + "_river"
	dir, err := os.MkdirTemp("", "gormkit-bench-")
	if err != nil {
		return nil, err
	}
	e.tmpDir = dir
	if e.pgURL != "" {
		if err := e.initPostgres(ctx); err != nil {
			return e, fmt.Errorf("POSTGRES_DB_URL: %w", err)
		}
	}
	if e.myURL != "" {
		db, err := e.open(ctx, gormkit.MySQL, 2)
		if err != nil {
			return e, fmt.Errorf("MYSQL_DB_URL: %w", err)
		}
		e.myVersion = serverVersion(ctx, db.SQL, "SELECT version()")
		_ = db.Close()
	}
	return e, nil
}

func (e *benchEnv) initPostgres(ctx context.Context) error {
	pool, err := pgxpool.New(ctx, e.pgURL)
	if err != nil {
		return err
	}
	e.pgPool = pool
	if err := pool.QueryRow(ctx, "SELECT version()").Scan(&e.pgVersion); err != nil {
		return err
	}
	if i := strings.Index(e.pgVersion, " on "); i > 0 {
		e.pgVersion = e.pgVersion[:i]
	}
	for _, s := range []string{e.schema, e.riverSchema} {
		if _, err := pool.Exec(ctx, "CREATE SCHEMA "+s); err != nil {
			return fmt.Errorf("create schema %s: %w", s, err)
		}
	}
	return nil
}

// has reports whether the dialect's server is configured; for SQLite always.
func (e *benchEnv) has(d gormkit.Dialect) bool {
	switch d {
	case gormkit.Postgres:
		return e.pgURL != "" && e.pgPool != nil
	case gormkit.MySQL:
		return e.myURL != "" && e.myVersion != ""
	}
	return true
}

// skipReason says why a dialect's part of a scenario does not run.
func (e *benchEnv) skipReason(d gormkit.Dialect) string {
	return gormkit.EnvVar(d) + " is not set (scripts/bench starts the servers and sets it)"
}

// table returns a table name unique to this process on dialect d. SQLite
// databases are fresh files, so names stay plain there.
func (e *benchEnv) table(d gormkit.Dialect, base string) string {
	switch d {
	case gormkit.Postgres:
		return e.schema + "." + base
	case gormkit.MySQL:
		name := "gkbench_" + e.suffix + "_" + base
		e.mu.Lock()
		e.myTables = append(e.myTables, name)
		e.mu.Unlock()
		return name
	}
	return base
}

// sqliteURL returns a fresh SQLite file URL in the temp dir.
func (e *benchEnv) sqliteURL(name string) string {
	return "file:" + filepath.Join(e.tmpDir, name+".db")
}

// open opens the server database of dialect d through gormkit with a pool
// of maxConns connections.
func (e *benchEnv) open(ctx context.Context, d gormkit.Dialect, maxConns int, obs ...callbacks.Observer) (*gormkit.DB, error) {
	url := e.pgURL
	if d == gormkit.MySQL {
		url = e.myURL
	}
	return gormkit.Open(ctx, gormkit.Config{URL: url, Dialect: d, Pool: gormkit.PoolConfig{MaxOpenConns: maxConns}, QueryObservers: obs})
}

// onCleanup registers fn to run when the bench ends, last registered first.
func (e *benchEnv) onCleanup(fn func(context.Context) error) {
	e.mu.Lock()
	e.cleanups = append(e.cleanups, fn)
	e.mu.Unlock()
}

// close drops every schema and table the bench made and removes the temp
// dir.
func (e *benchEnv) close(ctx context.Context) error {
	var errs []error
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		errs = append(errs, e.cleanups[i](ctx))
	}
	if e.pgPool != nil {
		for _, s := range []string{e.riverSchema, e.schema} {
			if _, err := e.pgPool.Exec(ctx, "DROP SCHEMA IF EXISTS "+s+" CASCADE"); err != nil {
				errs = append(errs, fmt.Errorf("drop schema %s: %w", s, err))
			}
		}
		e.pgPool.Close()
	}
	if len(e.myTables) > 0 {
		db, err := e.open(ctx, gormkit.MySQL, 1)
		if err == nil {
			for _, t := range e.myTables {
				if err := db.Gorm.Exec("DROP TABLE IF EXISTS `" + t + "`").Error; err != nil {
					errs = append(errs, err)
				}
			}
			_ = db.Close()
		}
		errs = append(errs, err)
	}
	if e.tmpDir != "" {
		errs = append(errs, os.RemoveAll(e.tmpDir))
	}
	return errors.Join(errs...)
}

func serverVersion(ctx context.Context, db *sql.DB, query string) string {
	var v string
	if err := db.QueryRowContext(ctx, query).Scan(&v); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return v
}

// describe is the database line under a table title.
func (e *benchEnv) describe(d gormkit.Dialect) string {
	switch d {
	case gormkit.Postgres:
		return e.pgVersion
	case gormkit.MySQL:
		return "MariaDB/MySQL " + e.myVersion
	}
	return "SQLite"
}
