package models

import (
	"fmt"
	"strings"

	"gorm.io/gorm/schema"

	sqldialect "github.com/gormkit/gormkit/internal/dialect"
)

// columnTypes maps the logical column types of gormkit's tables to each
// dialect's type, matching what AutoMigrate creates.
var columnTypes = map[string]map[string]string{
	"sqlite":   {"json": "text", "bytes": "blob", "time": "datetime", "int": "integer"},
	"postgres": {"json": "jsonb", "bytes": "bytea", "time": "timestamptz(6)", "int": "bigint"},
	"mysql":    {"json": "json", "bytes": "longblob", "time": "datetime(6)", "int": "bigint"},
}

func columnType(dialect, logical string) string {
	if t, ok := columnTypes[dialect][logical]; ok {
		return t
	}
	return columnTypes["sqlite"][logical]
}

// Table identifies one of gormkit's tables for SetupStatements.
type Table string

// The tables gormkit owns.
const (
	OutboxTable      Table = "outbox"
	IdempotencyTable Table = "idempotency"
)

const outboxColumns = `  id varchar(36) NOT NULL,
  kind varchar(16) NOT NULL,
  name varchar(255) NOT NULL,
  payload {json} NOT NULL,
  headers {json},
  status varchar(16) NOT NULL,
  attempts {int} NOT NULL DEFAULT 0,
  max_attempts {int} NOT NULL,
  available_at {time} NOT NULL,
  locked_until {time},
  claim_token varchar(36),
  last_error text,
  created_at {time} NOT NULL,
  updated_at {time} NOT NULL,
  delivered_at {time},
  dead_lettered_at {time},
  PRIMARY KEY (id)`

const idempotencyColumns = `  storage_key char(64) NOT NULL,
  namespace varchar(128) NOT NULL,
  idempotency_key varchar(255) NOT NULL,
  scope_key text NOT NULL,
  fingerprint varchar(128) NOT NULL,
  status varchar(16) NOT NULL,
  result {bytes},
  reservation_token varchar(36) NOT NULL,
  locked_until {time},
  expires_at {time} NOT NULL,
  created_at {time} NOT NULL,
  updated_at {time} NOT NULL,
  completed_at {time},
  PRIMARY KEY (storage_key)`

// SetupStatements returns the DDL that creates one of gormkit's tables and
// its index on the given dialect ("sqlite", "postgres" or "mysql"), for
// applications that keep their own migrations (goose, golang-migrate, atlas).
// The statements are idempotent on SQLite, PostgreSQL and MariaDB and create
// the same schema as AutoMigrate. An empty tableName means the default.
func SetupStatements(dialect string, table Table, tableName string) ([]string, error) {
	var columns, indexSuffix, indexColumns string
	switch table {
	case OutboxTable:
		columns, indexSuffix, indexColumns = outboxColumns, "claim", "status, available_at, id"
		if tableName == "" {
			tableName = DefaultOutboxTable
		}
	case IdempotencyTable:
		columns, indexSuffix, indexColumns = idempotencyColumns, "expires", "expires_at"
		if tableName == "" {
			tableName = DefaultIdempotencyTable
		}
	default:
		return nil, fmt.Errorf("gormkit: unknown table %q (want outbox or idempotency)", table)
	}
	name, err := sqldialect.Parse(dialect)
	if err != nil {
		return nil, fmt.Errorf("gormkit: %w", err)
	}
	dialect = string(name)
	if err := ValidateTableName(tableName); err != nil {
		return nil, err
	}
	for _, logical := range []string{"json", "bytes", "time", "int"} {
		columns = strings.ReplaceAll(columns, "{"+logical+"}", columnType(dialect, logical))
	}
	index := schema.NamingStrategy{}.IndexName(tableName, indexSuffix)
	quote := name.Quote
	if dialect == "mysql" {
		// MySQL has no CREATE INDEX IF NOT EXISTS, so the index is declared inline.
		return []string{fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (\n%s,\n  INDEX %s (%s)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
			quote(tableName), columns, quote(index), indexColumns)}, nil
	}
	return []string{
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (\n%s\n)", quote(tableName), columns),
		fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (%s)", quote(index), quote(tableName), indexColumns),
	}, nil
}
