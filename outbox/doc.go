// Package outbox is a transactional outbox for GORM applications: messages
// are written in the business transaction, so they exist exactly when the
// business rows do, and relays deliver them afterwards to handlers, at
// least once, with leases, retries, backoff and dead letters. It runs on
// SQLite, PostgreSQL and MySQL/MariaDB with the same behaviour.
//
// # Writing messages
//
// New returns an Outbox on a table (default outbox_messages, created by
// gormkit.AutoMigrate or the DDL of gormkit.SetupStatements). EnqueueTx
// writes messages with any handle: the transaction handle of a
// gormkit.UnitOfWork or of db.Transaction makes them commit or roll back
// with the business rows; Enqueue uses the outbox's own handle. Several
// messages are one INSERT. IDs are time-ordered UUIDs (version 7) unless
// given. A message is a KindEvent (a domain event) or a KindJob (a command),
// has a Name that routes it, a JSON Payload, optional string Headers (trace
// context), MaxAttempts, and AvailableAt for delayed delivery.
//
// Outbox.EventWriter plugs the outbox into a unit of work
// (gormkit.WithEventWriter): the events its ports record are written as
// KindEvent messages just before the transaction commits, and their IDs are
// filled in.
//
// # Lifecycle
//
// Every message is in one of three states:
//
//	pending ──claim──▶ pending, leased ──delivered──▶ delivered
//	   ▲                 │    │
//	   └──retry / release┘    └──dead-letter──▶ dead_lettered ──requeue──▶ pending
//
// A claim takes pending messages that are available (available_at <= now)
// and not leased (locked_until absent or past), oldest available_at first,
// and in one atomic step adds one to attempts, sets locked_until to now +
// lease and gives the batch a fresh claim token. The holder then writes
// back each message: MarkDelivered, Retry (available again at a given time,
// the error kept in last_error), DeadLetter, or Release (handed back
// unstarted, the attempt not counted). Every write-back is a compare-and-set
// on id, claim token and pending status; when the claim is no longer the
// current one it fails with ErrClaimLost. MarkDelivered and Release take
// many IDs in one statement and report the lost ones in a *ClaimLostError.
//
// # Leases
//
// A lease is what makes delivery survive a crashed worker: a message whose
// worker died is claimed again once locked_until passes, by any worker,
// with attempts one higher, and the dead worker's late write-back finds its
// claim lost. The lease must therefore cover the work done under it; the
// relay writes a batch back when the batch's last handler returns, so
// RelayConfig.Lease must cover BatchSize/Concurrency handler runs. Delivery
// is at least once: a handler that outlives its lease may run twice, so
// handlers deduplicate by Message.ID (the idempotency package helps).
//
// # Relay
//
// A Relay claims batches and runs them through handlers routed by kind and
// name (Handle, or RelayConfig.Handlers; name AnyName catches every name
// of a kind), on Concurrency goroutines. The successes of a batch are
// marked delivered in one statement. A handler error retries the message
// after the RetryPolicy's delay (ExponentialBackoff by default: 1s doubling
// to 1h with ±20% jitter); an error wrapped with Permanent, or the failure
// of the last attempt, dead-letters it. A panic is recovered and counts as
// an error. A message no handler is registered for fails with ErrNoHandler
// and is retried like any failure, so a message written by a newer release
// survives a rolling deploy; once its attempts are used up it is
// dead-lettered with that error.
//
// Run polls until its context is cancelled, then shuts down gracefully: it
// stops claiming, lets running handlers finish within ShutdownTimeout,
// writes their results back and releases the claimed messages no handler
// started, so no message waits for a lease. DrainOnce claims and processes
// until a claim comes back empty and returns Counts; it suits cron jobs and
// tests. Any number of relays, in one process or many, may share a table.
//
// # Retries and dead letters
//
// Retry delays come from RelayConfig.Retry, with the outbox's clock
// (Config.Now) as now, so a test with a fake clock and a fixed jitter
// source (ExponentialBackoff.Rand) sees exact times. A message whose
// attempts are used up is dead-lettered: by the relay when its last attempt
// fails, or by a claim when it finds the lease of the last attempt expired
// (the worker died). Stats reports counts by status and the age of the
// oldest available pending message; ListDeadLetters pages through dead
// letters; Requeue and RequeueAll make them pending again with fresh
// attempts, keeping last_error; Purge deletes delivered and dead-lettered
// messages older than a retention in bounded batches.
//
// # Time
//
// Every time is taken from Config.Now, truncated to microseconds and stored
// in UTC; SQL never calls the database's clock. Ordering by available_at is
// exact at microsecond granularity on every dialect, ties broken by ID.
//
// # Dialects
//
// The state machine is shared; only the claim and the bounded DELETE differ
// (dialect_postgres.go, dialect_mysql.go, dialect_sqlite.go):
//
//   - PostgreSQL claims in one statement: a CTE selects the oldest claimable
//     rows FOR UPDATE SKIP LOCKED and an UPDATE … RETURNING claims them, so
//     competing relays skip each other's rows instead of waiting.
//   - MySQL 8.0+ and MariaDB 10.6+ (MariaDB 10.11 is what the tests run)
//     claim in a short READ COMMITTED transaction: SELECT … FOR UPDATE SKIP
//     LOCKED, then one UPDATE by ID, since UPDATE has no RETURNING there.
//     READ COMMITTED takes no gap locks, so claims never block inserts.
//   - SQLite claims with one UPDATE … RETURNING (SQLite 3.35+); the write
//     lock it takes serializes claims, and busy_timeout makes competitors
//     wait. An in-memory database keeps one connection, which the relay
//     never holds across handler runs.
//
// Purge deletes with DELETE … WHERE id IN (SELECT … LIMIT n) on PostgreSQL
// and SQLite, and DELETE … ORDER BY id LIMIT n on MySQL.
package outbox
