// Package models holds the GORM models of the tables gormkit owns, the
// outbox (outbox_messages) and the idempotency records
// (idempotency_records), table-name validation, and the DDL for applications
// that run their own migrations.
//
// Every time column stores UTC. Callers truncate times to microseconds before
// writing (see UTC), which is the finest precision all three dialects keep,
// so ordering is the same on SQLite, PostgreSQL and MySQL/MariaDB.
package models
