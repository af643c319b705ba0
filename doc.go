// Package gormkit gives GORM applications durable workflows on the database
// they already run: one way to open SQLite, PostgreSQL or MySQL/MariaDB with
// production settings, a GORM plugin that reports every statement, a unit of
// work that publishes domain events only after commit, and, in
// subpackages, a transactional outbox and idempotency records.
//
// # Overview
//
// The root package holds three parts, one file each:
//
//   - provider.go: Open and OpenFromEnv return a *DB, the "DB port" an
//     application hands to its repositories: the *gorm.DB, the *sql.DB
//     underneath, the dialect, a port name and a provider name.
//   - plugin.go: NewPlugin returns a gorm.Plugin with query-logging
//     callbacks; AutoMigrate and SetupStatements create gormkit's tables.
//   - uow.go: NewUnitOfWork runs use cases in one transaction with ports
//     built from it, and publishes recorded events after commit.
//
// Everything works the same on SQLite, PostgreSQL and MySQL/MariaDB; the
// tests run one conformance suite against each.
//
// # Provider
//
// Open takes a Config whose URL picks the dialect: file:, sqlite: or a bare
// path (and :memory:) mean SQLite, postgres:// and postgresql:// mean
// PostgreSQL, mysql:// means MySQL or MariaDB. OpenFromEnv reads the URL
// from SQLITE_DB_URL, POSTGRES_DB_URL or MYSQL_DB_URL.
//
//	db, err := gormkit.Open(ctx, gormkit.Config{URL: "file:app.db"})
//	if err != nil {
//		return err
//	}
//	defer db.Close()
//
// SQLite opens with the pure-Go driver (no cgo) in WAL mode, with a busy
// timeout, foreign keys on and IMMEDIATE write transactions, so concurrent
// writers wait for each other instead of failing with SQLITE_BUSY. Times
// are bound in UTC, so stored times compare and sort correctly. An
// in-memory database keeps a single connection, so the whole pool sees one
// database. The cgo driver is opt-in: set SQLiteConfig.Driver to
// sqlitecgo.Driver. Remote libSQL URLs are refused.
//
// A mysql:// URL is converted to a go-sql-driver DSN with parseTime, UTC
// and utf8mb4. Pool settings and a *gorm.Config pass through. Errors name
// the field or environment variable at fault and never contain a password.
//
// # Plugin and query logging
//
// The plugin installs a before and an after callback on each of GORM's six
// processors (create, query, update, delete, row, raw). Every finished
// statement becomes one callbacks.QueryEvent, with its SQL text, operation,
// table, parameter count, rows affected, duration, error, port and provider
// names, sent to each callbacks.Observer:
//
//	rec := callbacks.NewRecorder(256)
//	err := db.Gorm.Use(gormkit.NewPlugin(
//		gormkit.WithObservers(rec, callbacks.NewSlogObserver(slog.Default(), 200*time.Millisecond)),
//	))
//
// Parameter values are left out unless WithParamValues is given: they
// carry personal data and secrets. gorm.ErrRecordNotFound is not an error
// event. Config.QueryObservers installs the plugin when opening.
//
// AutoMigrate creates the outbox and idempotency tables, under custom names
// if asked; names are validated as SQL identifiers before any SQL runs.
// Applications that own their migrations (goose, golang-migrate, atlas) get
// the same schema as DDL from SetupStatements.
//
// # Unit of work
//
// A UnitOfWork[T] runs a function in one transaction and hands it ports of
// type T that its build function made from the transaction handle, so every
// repository write commits or rolls back together:
//
//	uow := gormkit.NewUnitOfWork(db.Gorm, func(tx *gorm.DB, events gormkit.EventRecorder) Ports {
//		return Ports{Orders: NewOrderRepo(tx, events)}
//	}, gormkit.WithEventBus(bus))
//
//	err := uow.Transaction(ctx, func(ctx context.Context, p Ports) error {
//		return p.Orders.Place(ctx, order)
//	})
//
// Events recorded through the EventRecorder are published to the EventBus
// in record order after the outermost commit, never on rollback, error or
// panic. A publish failure after commit returns an error matching
// ErrPublishAfterCommit while the data stays committed; when delivery must
// be durable, write the events to the outbox instead (WithEventWriter).
//
// A unit of work called with a context that already carries a gormkit
// transaction joins it. A failure inside a joined unit dooms the whole
// transaction (ErrRollbackOnly) unless WithSavepoints lets it roll back
// alone. WithTxOptions passes isolation level and read-only mode through;
// WithRetry runs the whole transaction again after a serialization failure
// or deadlock. Transact returns a value from the transaction.
//
// # Outbox and idempotency
//
// Package github.com/gormkit/gormkit/outbox writes messages in the business
// transaction and relays them afterwards to handlers, with leases, retries,
// backoff and dead letters; its EventWriter makes a unit of work's events
// durable. Package github.com/gormkit/gormkit/idempotency keeps durable
// reservations so a retried command runs once and replays its stored
// result, with a net/http middleware for the Idempotency-Key header.
// Package github.com/gormkit/gormkit/callbacks holds the query events and
// observers, and github.com/gormkit/gormkit/models the table models.
package gormkit
