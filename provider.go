package gormkit

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/gormkit/gormkit/callbacks"
	"github.com/gormkit/gormkit/internal/sqliteconn"
)

// Dialect names a SQL dialect. The values match gorm.Dialector.Name().
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
	MySQL    Dialect = "mysql" // MySQL 8.0+ and MariaDB 10.6+
)

// EnvVar returns the environment variable OpenFromEnv reads for d:
// SQLITE_DB_URL, POSTGRES_DB_URL or MYSQL_DB_URL.
func EnvVar(d Dialect) string {
	switch d {
	case SQLite:
		return "SQLITE_DB_URL"
	case Postgres:
		return "POSTGRES_DB_URL"
	case MySQL:
		return "MYSQL_DB_URL"
	}
	return ""
}

// Config configures Open. Only URL is required.
type Config struct {
	// URL locates the database: postgres://…, postgresql://…, mysql://…,
	// file:app.db, sqlite:app.db, a bare path, or :memory:.
	URL string
	// Dialect is inferred from the URL scheme when empty.
	Dialect Dialect
	// Name is the port name reported in query events. Default "db".
	Name string
	// Gorm is passed to gorm.Open (a copy with DisableAutomaticPing set:
	// Open pings under its own ctx). Default: a silent logger, UTC
	// microsecond NowFunc and TranslateError.
	Gorm *gorm.Config
	// Pool sets the connection pool; zero fields take the defaults listed on
	// PoolConfig.
	Pool PoolConfig
	// SQLite configures SQLite connections; ignored for other dialects.
	SQLite SQLiteConfig
	// QueryObservers, when set, install the gormkit plugin with these
	// observers, named after Name and the provider.
	QueryObservers []callbacks.Observer

	// source names where URL came from in error messages: an env var, or
	// "Config.URL".
	source string
}

// PoolConfig passes through to database/sql.
type PoolConfig struct {
	// MaxOpenConns. Default 20 for servers, 8 for a SQLite file, 1 for
	// in-memory SQLite (which must keep a single connection to stay one
	// database).
	MaxOpenConns int
	// MaxIdleConns. Default MaxOpenConns.
	MaxIdleConns int
	// ConnMaxLifetime. Default 0 (no limit).
	ConnMaxLifetime time.Duration
	// ConnMaxIdleTime. Default 5 minutes (never for in-memory SQLite).
	ConnMaxIdleTime time.Duration
}

// DB is an open database: the "DB port" an application hands to its
// repositories and to gormkit's stores.
type DB struct {
	// Gorm is the GORM handle.
	Gorm *gorm.DB
	// SQL is the underlying pool, an escape hatch for plain database/sql.
	SQL *sql.DB
	// Dialect is the SQL dialect spoken.
	Dialect Dialect
	// Name is the port name (Config.Name, default "db").
	Name string
	// Provider is gormkit-sqlite, gormkit-postgres or gormkit-mysql.
	Provider string
}

// ConfigFromEnv returns a Config whose URL comes from d's environment
// variable (see EnvVar). Errors name the variable.
func ConfigFromEnv(d Dialect) (Config, error) {
	name := EnvVar(d)
	if name == "" {
		return Config{}, fmt.Errorf("gormkit: unknown dialect %q (want sqlite, postgres or mysql)", d)
	}
	raw, ok := os.LookupEnv(name)
	if !ok || raw == "" {
		return Config{}, fmt.Errorf("gormkit: %s is not set", name)
	}
	return Config{URL: raw, Dialect: d, source: name}, nil
}

// OpenFromEnv opens the database named by d's environment variable.
func OpenFromEnv(ctx context.Context, d Dialect) (*DB, error) {
	cfg, err := ConfigFromEnv(d)
	if err != nil {
		return nil, err
	}
	return Open(ctx, cfg)
}

// Open opens and pings the database cfg describes. Errors name the field or
// environment variable at fault and never contain the password.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	source := cfg.source
	if source == "" {
		source = "Config.URL"
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("gormkit: %s: "+format, append([]any{source}, args...)...)
	}
	if cfg.URL == "" {
		return nil, fail("URL is empty")
	}
	inferred, err := inferDialect(cfg.URL)
	if err != nil {
		return nil, fail("%v", err)
	}
	d := cfg.Dialect
	if d == "" {
		d = inferred
	} else if d != inferred {
		return nil, fail("URL is a %s URL but Config.Dialect is %q", inferred, d)
	}
	t, err := parseTarget(cfg.URL, d)
	if err != nil {
		return nil, fail("%v", err)
	}

	var dialector gorm.Dialector
	switch d {
	case SQLite:
		dialector = cfg.SQLite.dialector(t)
	case Postgres:
		dialector = postgres.Open(t.dsn)
	case MySQL:
		// GORM's MySQL dialector asks the server for its version while
		// opening, without a context; connecting first, under ctx, keeps a
		// silent server from holding Open past ctx's deadline.
		pool, err := sql.Open(mysql.DefaultDriverName, t.dsn)
		if err != nil {
			return nil, fail("cannot open %s: %s", t.redacted, t.scrubAll(err.Error()))
		}
		cfg.Pool.apply(pool, t)
		if err := pool.PingContext(ctx); err != nil {
			_ = pool.Close()
			return nil, fail("cannot reach %s: %s", t.redacted, t.scrubAll(err.Error()))
		}
		dialector = mysql.New(mysql.Config{DSN: t.dsn, Conn: pool})
	}
	gdb, err := gorm.Open(dialector, gormConfig(cfg.Gorm))
	if err != nil {
		if d == MySQL {
			_ = dialector.(*mysql.Dialector).Conn.(*sql.DB).Close()
		}
		return nil, fail("cannot open %s: %s", t.redacted, t.scrubAll(err.Error()))
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		return nil, fail("%s", t.scrubAll(err.Error()))
	}
	cfg.Pool.apply(sqlDB, t)
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fail("cannot reach %s: %s", t.redacted, t.scrubAll(err.Error()))
	}

	db := &DB{Gorm: gdb, SQL: sqlDB, Dialect: d, Name: cfg.Name, Provider: "gormkit-" + string(d)}
	if db.Name == "" {
		db.Name = "db"
	}
	if len(cfg.QueryObservers) > 0 {
		plugin := NewPlugin(WithObservers(cfg.QueryObservers...), WithPortName(db.Name), WithProviderName(db.Provider))
		if err := gdb.Use(plugin); err != nil {
			_ = sqlDB.Close()
			return nil, fmt.Errorf("gormkit: install plugin: %w", err)
		}
	}
	return db, nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.SQL.PingContext(ctx); err != nil {
		return fmt.Errorf("gormkit: ping %s: %w", db.Name, err)
	}
	return nil
}

// Close closes the connection pool.
func (db *DB) Close() error { return db.SQL.Close() }

// gormConfig returns the config gorm.Open gets. GORM's own ping on open
// takes no context, so it is always off: Open pings under its ctx instead.
func gormConfig(c *gorm.Config) *gorm.Config {
	if c != nil {
		if c.DisableAutomaticPing {
			return c
		}
		copied := *c
		copied.DisableAutomaticPing = true
		return &copied
	}
	return &gorm.Config{
		Logger:               logger.Discard,
		NowFunc:              func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		TranslateError:       true,
		DisableAutomaticPing: true,
	}
}

func (p PoolConfig) apply(db *sql.DB, t *target) {
	switch {
	case t.sqliteMemory:
		// Every connection to :memory: is a new database; one connection
		// that never closes keeps one database for the whole pool.
		p.MaxOpenConns, p.MaxIdleConns, p.ConnMaxLifetime, p.ConnMaxIdleTime = 1, 1, 0, 0
	case p.MaxOpenConns == 0 && t.dialect == SQLite:
		p.MaxOpenConns = 8
	case p.MaxOpenConns == 0:
		p.MaxOpenConns = 20
	}
	if p.MaxIdleConns == 0 {
		p.MaxIdleConns = p.MaxOpenConns
	}
	if p.ConnMaxIdleTime == 0 && !t.sqliteMemory {
		p.ConnMaxIdleTime = 5 * time.Minute
	}
	db.SetMaxOpenConns(p.MaxOpenConns)
	db.SetMaxIdleConns(p.MaxIdleConns)
	db.SetConnMaxLifetime(p.ConnMaxLifetime)
	db.SetConnMaxIdleTime(p.ConnMaxIdleTime)
}

// SQLiteConfig holds the SQLite connection settings.
type SQLiteConfig struct {
	// Driver opens the connection. Default PureGoSQLite (no cgo); the cgo
	// driver is in package github.com/gormkit/gormkit/sqlitecgo.
	Driver SQLiteDriver
	// BusyTimeout is how long a writer waits for the lock. Default 5s.
	BusyTimeout time.Duration
	// JournalMode. Default "WAL" (not applied to in-memory databases).
	JournalMode string
	// Synchronous. Default "NORMAL", safe with WAL.
	Synchronous string
	// DisableForeignKeys turns off foreign key enforcement (on by default).
	DisableForeignKeys bool
	// DeferredTransactions begins transactions DEFERRED instead of
	// IMMEDIATE. Immediate transactions take the write lock at BEGIN, so two
	// writers wait for each other instead of failing with SQLITE_BUSY when
	// they upgrade from reading to writing.
	DeferredTransactions bool
}

// SQLiteSettings are the connection settings a SQLiteDriver turns into its
// DSN.
type SQLiteSettings struct {
	Path        string
	Memory      bool
	BusyTimeout time.Duration
	JournalMode string
	Synchronous string
	ForeignKeys bool
	TxLock      string // "immediate" or "deferred"
	// Extra holds the URL's own query parameters, passed through.
	Extra map[string][]string
}

// SQLiteDriver builds a GORM dialector for a SQLite database.
type SQLiteDriver interface {
	Dialector(s SQLiteSettings) gorm.Dialector
}

// PureGoSQLite is the default SQLite driver, github.com/glebarez/sqlite, a
// pure-Go SQLite that needs no cgo.
var PureGoSQLite SQLiteDriver = pureGoSQLite{}

type pureGoSQLite struct{}

func (pureGoSQLite) Dialector(s SQLiteSettings) gorm.Dialector {
	q := copyValues(s.Extra)
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(s.BusyTimeout.Milliseconds(), 10)+")")
	if s.JournalMode != "" {
		q.Add("_pragma", "journal_mode("+s.JournalMode+")")
	}
	q.Add("_pragma", "synchronous("+s.Synchronous+")")
	if s.ForeignKeys {
		q.Add("_pragma", "foreign_keys(1)")
	} else {
		q.Add("_pragma", "foreign_keys(0)")
	}
	// glebarez ignores _txlock when _time_format is present, so never set both.
	q.Del("_time_format")
	q.Set("_txlock", s.TxLock)
	return &sqlite.Dialector{DriverName: pureGoDriverName, DSN: "file:" + s.Path + "?" + q.Encode()}
}

// pureGoDriverName is glebarez's driver with connections that bind times in
// UTC, so stored times compare and sort correctly, and that survive a
// cancelled transaction, so an in-memory database does (internal/sqliteconn).
const pureGoDriverName = "gormkit-sqlite"

func init() { sqliteconn.Register(pureGoDriverName, sqlite.DriverName) }

func copyValues(v map[string][]string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func (c SQLiteConfig) dialector(t *target) gorm.Dialector {
	s := SQLiteSettings{
		Path:        t.sqlitePath,
		Memory:      t.sqliteMemory,
		BusyTimeout: c.BusyTimeout,
		JournalMode: c.JournalMode,
		Synchronous: c.Synchronous,
		ForeignKeys: !c.DisableForeignKeys,
		TxLock:      "immediate",
		Extra:       t.sqliteQuery,
	}
	if s.BusyTimeout == 0 {
		s.BusyTimeout = 5 * time.Second
	}
	if s.JournalMode == "" {
		s.JournalMode = "WAL"
	}
	if s.Memory {
		s.JournalMode = ""
	}
	if s.Synchronous == "" {
		s.Synchronous = "NORMAL"
	}
	if c.DeferredTransactions {
		s.TxLock = "deferred"
	}
	driver := c.Driver
	if driver == nil {
		driver = PureGoSQLite
	}
	return driver.Dialector(s)
}
