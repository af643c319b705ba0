package gormkit

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/gormkit/gormkit/callbacks"
)

func tempSQLiteURL(t *testing.T) string {
	return "file:" + filepath.Join(t.TempDir(), "app.db")
}

func openTest(t *testing.T, cfg Config) *DB {
	t.Helper()
	db, err := Open(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestInferDialect(t *testing.T) {
	cases := []struct {
		url  string
		want Dialect
	}{
		{"file:app.db", SQLite},
		{"file:/var/lib/app.db?mode=rwc", SQLite},
		{"FILE:app.db", SQLite},
		{"sqlite:app.db", SQLite},
		{"sqlite:///var/lib/app.db", SQLite},
		{"app.db", SQLite},
		{"./data/app.db", SQLite},
		{"/var/lib/app.db", SQLite},
		{":memory:", SQLite},
		{"file::memory:", SQLite},
		{"postgres://u:p@localhost:5432/app", Postgres},
		{"postgresql://u:p@localhost/app?sslmode=disable", Postgres},
		{"POSTGRES://localhost/app", Postgres},
		{"mysql://u:p@localhost:3306/app", MySQL},
		{"mariadb://u:p@localhost/app", MySQL},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			got, err := inferDialect(c.url)
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

func TestOpenRefusesRemoteLibSQL(t *testing.T) {
	for _, url := range []string{
		"libsql://my-db.turso.io?authToken=abc",
		"https://my-db.turso.io",
		"http://localhost:8080",
		"ws://localhost:8080",
		"wss://my-db.turso.io",
	} {
		t.Run(url, func(t *testing.T) {
			_, err := Open(context.Background(), Config{URL: url})
			require.Error(t, err)
			require.Contains(t, err.Error(), "Config.URL")
			require.Contains(t, err.Error(), "remote libSQL")
			require.Contains(t, err.Error(), "not supported")
		})
	}
}

func TestOpenErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"empty URL", Config{}, []string{"Config.URL", "empty"}},
		{"unknown scheme", Config{URL: "redis://localhost:6379"}, []string{"Config.URL", "unknown URL scheme", `"redis"`}},
		{"dialect mismatch", Config{URL: "postgres://localhost/app", Dialect: MySQL}, []string{"Config.URL", "postgres URL", `"mysql"`}},
		{"unknown dialect", Config{URL: "app.db", Dialect: "oracle"}, []string{"Config.URL"}},
		{"sqlite without path", Config{URL: "file:"}, []string{"Config.URL", "no path"}},
		{"mysql without host", Config{URL: "mysql:///app"}, []string{"Config.URL", "no host"}},
		{"mysql bad parameter", Config{URL: "mysql://u@h/app?interpolateParams=maybe"}, []string{"Config.URL", "interpolateParams", "true or false"}},
		{"mysql bad timeout", Config{URL: "mysql://u@h/app?timeout=soon"}, []string{"Config.URL", "timeout", "duration"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(context.Background(), c.cfg)
			require.Error(t, err)
			for _, w := range c.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestOpenFromEnvNamesTheVariable(t *testing.T) {
	t.Setenv("POSTGRES_DB_URL", "")
	_, err := OpenFromEnv(context.Background(), Postgres)
	require.ErrorContains(t, err, "POSTGRES_DB_URL is not set")

	t.Setenv("MYSQL_DB_URL", "redis://h")
	_, err = OpenFromEnv(context.Background(), MySQL)
	require.ErrorContains(t, err, "MYSQL_DB_URL")
	require.NotContains(t, err.Error(), "Config.URL")

	t.Setenv("POSTGRES_DB_URL", "postgres://u:secretpw@db.example:notaport/app")
	_, err = OpenFromEnv(context.Background(), Postgres)
	require.ErrorContains(t, err, "POSTGRES_DB_URL")
	require.NotContains(t, err.Error(), "secretpw")

	t.Setenv("SQLITE_DB_URL", "file:"+filepath.Join(t.TempDir(), "env.db"))
	db, err := OpenFromEnv(context.Background(), SQLite)
	require.NoError(t, err)
	require.Equal(t, SQLite, db.Dialect)
	require.NoError(t, db.Close())

	_, err = OpenFromEnv(context.Background(), "oracle")
	require.ErrorContains(t, err, "unknown dialect")
}

func TestEnvVar(t *testing.T) {
	require.Equal(t, "SQLITE_DB_URL", EnvVar(SQLite))
	require.Equal(t, "POSTGRES_DB_URL", EnvVar(Postgres))
	require.Equal(t, "MYSQL_DB_URL", EnvVar(MySQL))
	require.Empty(t, EnvVar("oracle"))
}

// An unreachable server fails Open; the error names the field and never
// contains the password, raw or URL-escaped.
func TestUnreachableServerRedactsPassword(t *testing.T) {
	cases := []struct {
		url     string
		secrets []string
	}{
		{"postgres://u:secretpw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", []string{"secretpw"}},
		{"postgres://u:p%40ss%3Aword@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", []string{"p@ss:word", "p%40ss%3Aword", "p%40ss"}},
		{"mysql://u:secretpw@127.0.0.1:1/db?timeout=2s", []string{"secretpw"}},
		{"mysql://u:p%40ss%3Aword@127.0.0.1:1/db?timeout=2s", []string{"p@ss:word", "p%40ss%3Aword", "p%40ss"}},
		// libpq and pgx also take the password as a query parameter.
		{"postgres://u@127.0.0.1:1/db?password=secretpw&sslmode=disable&connect_timeout=2", []string{"secretpw"}},
		{"postgres://u@127.0.0.1:1/db?sslmode=disable&PASSWORD=secretpw&connect_timeout=2", []string{"secretpw"}},
		{"postgres://u@127.0.0.1:1/db?password=p%40ss%3Aword&sslmode=disable&connect_timeout=2", []string{"p@ss:word", "p%40ss%3Aword", "p%40ss"}},
		{"mysql://u@127.0.0.1:1/db?password=secretpw&timeout=2s", []string{"secretpw"}},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := Open(ctx, Config{URL: c.url})
			require.Error(t, err)
			require.Contains(t, err.Error(), "Config.URL")
			require.Contains(t, err.Error(), "127.0.0.1")
			for _, s := range c.secrets {
				require.NotContains(t, err.Error(), s)
			}

			t.Setenv("POSTGRES_DB_URL", c.url)
			t.Setenv("MYSQL_DB_URL", c.url)
			d, err := inferDialect(c.url)
			require.NoError(t, err)
			_, err = OpenFromEnv(ctx, d)
			require.ErrorContains(t, err, EnvVar(d))
			for _, s := range c.secrets {
				require.NotContains(t, err.Error(), s)
			}
		})
	}
}

func TestMySQLURLConversion(t *testing.T) {
	tg, err := parseTarget("mysql://app:s%40cret@db.example:3307/shop?tls=skip-verify&timeout=5s&sql_mode=ANSI_QUOTES&parseTime=false&loc=Local&interpolateParams=true", MySQL)
	require.NoError(t, err)
	cfg, err := mysql.ParseDSN(tg.dsn)
	require.NoError(t, err)
	require.Equal(t, "app", cfg.User)
	require.Equal(t, "s@cret", cfg.Passwd)
	require.Equal(t, "tcp", cfg.Net)
	require.Equal(t, "db.example:3307", cfg.Addr)
	require.Equal(t, "shop", cfg.DBName)
	require.True(t, cfg.ParseTime, "parseTime is always on")
	require.Equal(t, time.UTC, cfg.Loc, "loc is always UTC")
	require.Equal(t, "utf8mb4_unicode_ci", cfg.Collation)
	require.Equal(t, "utf8mb4", cfg.Params["charset"])
	require.Equal(t, "ANSI_QUOTES", cfg.Params["sql_mode"], "unknown parameters pass through as session variables")
	require.Equal(t, "skip-verify", cfg.TLSConfig)
	require.Equal(t, 5*time.Second, cfg.Timeout)
	require.True(t, cfg.InterpolateParams)
	require.Equal(t, "s@cret", tg.password)
	require.NotContains(t, tg.redacted, "cret")

	tg, err = parseTarget("mysql://app@db.example/shop?charset=latin1", MySQL)
	require.NoError(t, err)
	cfg, err = mysql.ParseDSN(tg.dsn)
	require.NoError(t, err)
	require.Equal(t, "db.example:3306", cfg.Addr, "default port")
	require.Equal(t, "latin1", cfg.Params["charset"], "an explicit charset is kept")

	tg, err = parseTarget("mysql://app@db.example/shop?password=qs-secret", MySQL)
	require.NoError(t, err)
	cfg, err = mysql.ParseDSN(tg.dsn)
	require.NoError(t, err)
	require.Equal(t, "qs-secret", cfg.Passwd, "a password in the query is the password")
	require.NotContains(t, cfg.Params, "password", "and never a session variable")
	require.NotContains(t, tg.redacted, "qs-secret")

	tg, err = parseTarget("mysql://app@[::1]:3310/shop", MySQL)
	require.NoError(t, err)
	cfg, err = mysql.ParseDSN(tg.dsn)
	require.NoError(t, err)
	require.Equal(t, "[::1]:3310", cfg.Addr)

	for _, bad := range []string{"mysql://app:pw1234@db.example:port/shop", "mysql://app:pw1234@db.example:99999999999999999999/shop"} {
		_, err = parseTarget(bad, MySQL)
		require.ErrorContains(t, err, "port")
		require.NotContains(t, err.Error(), "pw1234")
	}
}

// A server URL without its scheme reads as a SQLite path; messages about
// that path still hide the password.
func TestSchemelessServerURLIsRedacted(t *testing.T) {
	for _, url := range []string{"u:secretpw@localhost:5432/db", "postgres//u:secretpw@localhost/db", "file:u:secretpw@localhost/db"} {
		_, err := Open(context.Background(), Config{URL: url})
		require.Error(t, err, url)
		require.NotContains(t, err.Error(), "secretpw")
	}
}

// A password with an unescaped '/', '?', '#' or '"' breaks the URL where
// the parser cuts it; the error says so without quoting any part of it.
func TestMalformedPasswordIsNotQuoted(t *testing.T) {
	for _, url := range []string{
		"postgres://u:Xq7/cretpw@h/db", "postgres://u:Xq7@?cretpw@h/db", "postgres://u:Xq7@#cretpw@h/db",
		"postgres://u:Xq7\"cretpw@h/db", "mysql://u:Xq7/cretpw@h/db", "mysql://u:Xq7@/cretpw@h/db",
	} {
		_, err := Open(context.Background(), Config{URL: url})
		require.Error(t, err, url)
		require.Contains(t, err.Error(), "percent-encode", url)
		require.NotContains(t, err.Error(), "Xq7", url)
		require.NotContains(t, err.Error(), "cretpw", url)
	}
}

func TestPostgresTarget(t *testing.T) {
	tg, err := parseTarget("postgresql://app:s%40cret@db.example/shop?sslmode=disable", Postgres)
	require.NoError(t, err)
	require.Equal(t, "s@cret", tg.password)
	require.Equal(t, "postgresql://app:xxxxx@db.example/shop?sslmode=disable", tg.redacted)
	require.Equal(t, "postgresql://app:s%40cret@db.example/shop?sslmode=disable", tg.dsn)
}

func TestSQLiteTarget(t *testing.T) {
	cases := []struct {
		url    string
		path   string
		memory bool
	}{
		{"file:app.db", "app.db", false},
		{"file:///var/lib/app.db", "/var/lib/app.db", false},
		{"sqlite:app.db?cache=private", "app.db", false},
		{"sqlite:///var/lib/app.db", "/var/lib/app.db", false},
		{"app.db", "app.db", false},
		{":memory:", ":memory:", true},
		{"file::memory:", ":memory:", true},
		{"file:shared?mode=memory", "shared", true},
	}
	for _, c := range cases {
		tg, err := parseTarget(c.url, SQLite)
		require.NoError(t, err, c.url)
		require.Equal(t, c.path, tg.sqlitePath, c.url)
		require.Equal(t, c.memory, tg.sqliteMemory, c.url)
	}
}

func pragma(t *testing.T, db *DB, name string) string {
	t.Helper()
	var v string
	require.NoError(t, db.SQL.QueryRow("PRAGMA "+name).Scan(&v))
	return v
}

func TestSQLitePragmas(t *testing.T) {
	db := openTest(t, Config{URL: tempSQLiteURL(t)})
	require.Equal(t, "wal", pragma(t, db, "journal_mode"))
	require.Equal(t, "1", pragma(t, db, "foreign_keys"))
	require.Equal(t, "5000", pragma(t, db, "busy_timeout"))
	require.Equal(t, "1", pragma(t, db, "synchronous")) // NORMAL
	require.Equal(t, SQLite, db.Dialect)
	require.Equal(t, "gormkit-sqlite", db.Provider)
	require.Equal(t, "db", db.Name)

	custom := openTest(t, Config{URL: tempSQLiteURL(t), Name: "orders", SQLite: SQLiteConfig{
		BusyTimeout: 1500 * time.Millisecond, JournalMode: "DELETE", Synchronous: "FULL", DisableForeignKeys: true,
	}})
	require.Equal(t, "delete", pragma(t, custom, "journal_mode"))
	require.Equal(t, "0", pragma(t, custom, "foreign_keys"))
	require.Equal(t, "1500", pragma(t, custom, "busy_timeout"))
	require.Equal(t, "2", pragma(t, custom, "synchronous"))
	require.Equal(t, "orders", custom.Name)
}

// Two transactions that read and then write: immediate transactions take
// the write lock at BEGIN, so the second waits for the first rather than
// failing with SQLITE_BUSY when it upgrades its read lock.
func TestSQLiteConcurrentWriteTransactions(t *testing.T) {
	run := func(t *testing.T, cfg SQLiteConfig) []error {
		db := openTest(t, Config{URL: tempSQLiteURL(t), SQLite: cfg})
		require.NoError(t, db.Gorm.Exec("CREATE TABLE counter (n INTEGER NOT NULL)").Error)
		require.NoError(t, db.Gorm.Exec("INSERT INTO counter (n) VALUES (0)").Error)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				errs[i] = db.Gorm.Transaction(func(tx *gorm.DB) error {
					var n int
					if err := tx.Raw("SELECT n FROM counter").Scan(&n).Error; err != nil {
						return err
					}
					time.Sleep(50 * time.Millisecond)
					return tx.Exec("UPDATE counter SET n = ?", n+1).Error
				})
			})
		}
		wg.Wait()
		if errs[0] == nil && errs[1] == nil {
			var n int
			require.NoError(t, db.Gorm.Raw("SELECT n FROM counter").Scan(&n).Error)
			require.Equal(t, 2, n, "no lost update")
		}
		return errs
	}
	errs := run(t, SQLiteConfig{})
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])

	// The same transactions begun DEFERRED show what the default prevents.
	errs = run(t, SQLiteConfig{DeferredTransactions: true})
	require.True(t, errs[0] != nil || errs[1] != nil, "deferred transactions should collide")
}

func TestSQLiteMemoryIsOneDatabase(t *testing.T) {
	db := openTest(t, Config{URL: ":memory:", Pool: PoolConfig{MaxOpenConns: 10}})
	require.Equal(t, 1, db.SQL.Stats().MaxOpenConnections, "in-memory SQLite keeps one connection")
	require.NoError(t, db.Gorm.Exec("CREATE TABLE notes (body TEXT)").Error)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			require.NoError(t, db.Gorm.Exec("INSERT INTO notes (body) VALUES (?)", i).Error)
		})
	}
	wg.Wait()
	var n int
	require.NoError(t, db.Gorm.Raw("SELECT COUNT(*) FROM notes").Scan(&n).Error)
	require.Equal(t, 8, n)
	require.Equal(t, "memory", pragma(t, db, "journal_mode"))
}

func TestPoolSettings(t *testing.T) {
	db := openTest(t, Config{URL: tempSQLiteURL(t)})
	require.Equal(t, 8, db.SQL.Stats().MaxOpenConnections, "SQLite file default")

	db = openTest(t, Config{URL: tempSQLiteURL(t), Pool: PoolConfig{MaxOpenConns: 3, MaxIdleConns: 2, ConnMaxLifetime: time.Minute}})
	require.Equal(t, 3, db.SQL.Stats().MaxOpenConnections)
}

func TestPingAndClose(t *testing.T) {
	db, err := Open(context.Background(), Config{URL: tempSQLiteURL(t), Name: "main"})
	require.NoError(t, err)
	require.NoError(t, db.Ping(context.Background()))
	require.NoError(t, db.Close())
	err = db.Ping(context.Background())
	require.Error(t, err)
	require.Contains(t, err.Error(), "main")
}

func TestOpenWithQueryObservers(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	obs := callbacks.ObserverFunc(func(_ context.Context, e callbacks.QueryEvent) {
		mu.Lock()
		seen = append(seen, e.SQL)
		mu.Unlock()
	})
	db := openTest(t, Config{URL: ":memory:", QueryObservers: []callbacks.Observer{obs}})
	require.NoError(t, db.Gorm.Exec("SELECT 1").Error)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"SELECT 1"}, seen)
}

func TestOpenHonoursGormConfig(t *testing.T) {
	db := openTest(t, Config{URL: ":memory:", Gorm: &gorm.Config{SkipDefaultTransaction: true}})
	require.True(t, db.Gorm.SkipDefaultTransaction)

	db = openTest(t, Config{URL: ":memory:"})
	require.True(t, db.Gorm.TranslateError)
	now := db.Gorm.NowFunc()
	require.Equal(t, time.UTC, now.Location())
	require.Zero(t, now.Nanosecond()%1000, "microsecond precision")
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"postgres://u:pw@localhost:5432/db", "mysql://u:pw@h:3306/db?tls=true", "file:app.db", ":memory:",
		"libsql://x", "postgres://u:a/b@h/db", "mysql://u:pw@h:port/db", "sqlite:///x?mode=memory", "%zz", "x://y",
	} {
		f.Add(s, "abc", "localhost:5432/db")
	}
	f.Fuzz(func(t *testing.T, raw, pw, rest string) {
		// Nothing panics.
		_, _ = inferDialect(raw)
		for _, d := range []Dialect{SQLite, Postgres, MySQL} {
			_, _ = parseTarget(raw, d)
		}
		// A password, wherever the URL breaks, never shows in an error or in
		// the redacted URL. The markers make the password's ends visible.
		const head, tail = "Q7x", "Zk9"
		if strings.Contains(rest, head) || strings.Contains(rest, tail) {
			return
		}
		// The last prefix is a server URL that lost its scheme.
		for _, prefix := range []string{"postgres://", "postgresql://", "mysql://", "mariadb://", "postgres//", ""} {
			u := prefix + "user:" + head + pw + tail + "@" + rest
			d, err := inferDialect(u)
			if err != nil {
				requireHidden(t, err.Error(), head, tail)
				continue
			}
			tg, err := parseTarget(u, d)
			if err != nil {
				requireHidden(t, err.Error(), head, tail)
				continue
			}
			requireHidden(t, tg.redacted, head, tail)
		}
	})
}

func requireHidden(t *testing.T, s string, secrets ...string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(s, secret) {
			t.Fatalf("%q leaks part of the password (%s)", s, secret)
		}
	}
}

// A server that accepts connections but never answers must not hold Open
// past its context's deadline, whatever the driver's own timeouts.
func TestOpenHonoursContextWhenServerIsSilent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	addr := ln.Addr().String()
	for _, url := range []string{"postgres://u:pw@" + addr + "/db?sslmode=disable", "mysql://u:pw@" + addr + "/db"} {
		for _, cfg := range []Config{{URL: url}, {URL: url, Gorm: &gorm.Config{Logger: logger.Discard}}} {
			t.Run(url, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				done := make(chan error, 1)
				go func() {
					_, err := Open(ctx, cfg)
					done <- err
				}()
				select {
				case err := <-done:
					require.Error(t, err)
					require.NotContains(t, err.Error(), "pw@")
				case <-time.After(10 * time.Second):
					t.Fatal("Open ignored its context's deadline")
				}
			})
		}
	}
}
