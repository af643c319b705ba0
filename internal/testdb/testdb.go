// Package testdb runs one test body against every backend gormkit supports:
// SQLite on a file, SQLite in memory, and, when their URL environment
// variables are set, PostgreSQL and MySQL/MariaDB. It is the harness of the
// conformance suite; tests never mock the database.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/dialect"
)

// Backend is one database to run tests against.
type Backend struct {
	// Name is the subtest name: sqlite-file, sqlite-memory, postgres, mysql.
	Name    string
	Dialect gormkit.Dialect
	// URL is empty for SQLite file backends, which get a fresh file per test.
	URL string
	// envVar is set for server backends.
	envVar string
}

// Backends lists every backend, servers included whether or not their URL
// is set (Open skips those, saying why).
func Backends() []Backend {
	return []Backend{
		{Name: "sqlite-file", Dialect: gormkit.SQLite},
		{Name: "sqlite-memory", Dialect: gormkit.SQLite, URL: ":memory:"},
		{Name: "postgres", Dialect: gormkit.Postgres, URL: os.Getenv("POSTGRES_DB_URL"), envVar: "POSTGRES_DB_URL"},
		{Name: "mysql", Dialect: gormkit.MySQL, URL: os.Getenv("MYSQL_DB_URL"), envVar: "MYSQL_DB_URL"},
	}
}

// Servers is true when the test script started the servers: then a missing
// URL fails the test instead of skipping it.
func requireServers() bool { return os.Getenv("GORMKIT_REQUIRE_SERVERS") == "1" }

// Open opens b for one test and closes it when the test ends. A server
// backend whose URL is unset skips the test loudly.
func Open(t testing.TB, b Backend, cfg ...gormkit.Config) *gormkit.DB {
	t.Helper()
	if b.envVar != "" && b.URL == "" {
		if requireServers() {
			t.Fatalf("%s is not set but GORMKIT_REQUIRE_SERVERS=1", b.envVar)
		}
		t.Skipf("SKIP: %s is not set, so the %s tests do not run (scripts/test starts the servers and sets it)", b.envVar, b.Name)
	}
	var c gormkit.Config
	if len(cfg) > 0 {
		c = cfg[0]
	}
	c.URL = b.URL
	if c.URL == "" {
		c.URL = "file:" + filepath.Join(t.TempDir(), "test.db")
	}
	db, err := gormkit.Open(context.Background(), c)
	if err != nil {
		t.Fatalf("open %s: %v", b.Name, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// ForEach runs fn as a subtest on every backend.
func ForEach(t *testing.T, fn func(t *testing.T, db *gormkit.DB)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, Open(t, b))
		})
	}
}

// Table returns a table name unique to this test, so tests in parallel
// packages sharing one server never meet, and drops the table afterwards.
func Table(t testing.TB, db *gormkit.DB, prefix string) string {
	t.Helper()
	var b [5]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("%s_%s", prefix, hex.EncodeToString(b[:]))
	name = strings.ToLower(name)
	t.Cleanup(func() {
		_ = db.Gorm.Exec("DROP TABLE IF EXISTS " + dialect.Name(db.Dialect).Quote(name)).Error
	})
	return name
}

// Migrate creates a fresh pair of outbox and idempotency tables unique to
// this test and returns their names.
func Migrate(t testing.TB, db *gormkit.DB) gormkit.TableNames {
	t.Helper()
	tables := gormkit.TableNames{Outbox: Table(t, db, "outbox"), Idempotency: Table(t, db, "idem")}
	if err := gormkit.AutoMigrate(db.Gorm, tables); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return tables
}
