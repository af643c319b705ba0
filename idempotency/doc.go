// Package idempotency gives commands and HTTP requests durable idempotency
// keys on SQLite, PostgreSQL and MySQL/MariaDB: a retried command runs once
// and every retry gets the stored result back.
//
// # Records
//
// Each key is one row of the idempotency table (models.IdempotencyRecord,
// default idempotency_records; create it with gormkit.AutoMigrate or
// gormkit.SetupStatements). Its primary key is the hex SHA-256 of the
// namespace, the key and the canonical scope (see ScopeKey), so keys up to
// models.MaxKeyLength bytes fit every dialect's index, and the same key in
// two scopes (tenants, actors) is two records. A record is in_progress while
// an attempt holds it, under a lease (locked_until), and completed once the
// attempt stored its result, which is replayed until the retention ends
// (expires_at).
//
// # Reserving
//
// Store.Reserve is one atomic step: it inserts the record, or takes over a
// record whose retention expired (as a brand-new record) or whose
// in-progress lease ran out (for a request with the same fingerprint).
// Otherwise the outcome says what the caller holds:
//
//   - Acquired: run the command, then Complete(result) or Fail (release).
//   - Replay: Reservation.Result is the stored result.
//   - InProgress: another attempt holds the key until
//     Reservation.LockedUntil.
//   - FingerprintMismatch: the key was used for a different payload. The
//     fingerprint is compared before the status, so this is reported even
//     while the other attempt runs.
//
// Of any number of concurrent reservations of one key, exactly one is
// Acquired. Complete and Fail are compare-and-set on the reservation token,
// the in_progress status and the fingerprint: an attempt whose lease ran
// out and was taken over gets a *MutationError (errors.As; it wraps
// ErrReservationLost), never a silent no-op. Namespace, key and fingerprint
// are validated before any SQL; errors wrap ErrInvalidRequest.
//
// Times come from Config.Now and are bound as parameters in UTC at
// microsecond precision; the database clock is never read.
//
// # Run
//
// Run wraps the protocol around a function: reserve, run or replay (the
// stored JSON decoded into the result type), complete on success, release
// on error or panic. ErrInProgress and ErrFingerprintMismatch tell the
// caller what happened otherwise.
//
//	receipt, err := idempotency.Run(ctx, store, idempotency.Request{
//		Namespace:   "payments.charge",
//		Key:         key,
//		Scope:       map[string]string{"tenant": tenantID},
//		Fingerprint: idempotency.Fingerprint(cardID, amount),
//	}, charge)
//
// # Units of work
//
// Every Store method runs on the transaction of the gormkit unit of work
// carried in ctx (gormkit.TxFromContext) when it belongs to the store's
// database; Store.WithTx binds a store to any transaction explicitly.
// Then the reservation, the business rows, outbox messages and the stored
// result commit together, and a rollback leaves no trace, so the command
// simply runs again on retry. A concurrent reservation of the same key
// waits for the transaction holding the row and then sees its outcome.
// Outside a transaction, Run finishes (Complete or Fail) even if ctx is
// cancelled after the command returned.
//
// # HTTP middleware
//
// NewMiddleware returns net/http middleware following the IETF
// Idempotency-Key header draft: POST and PATCH (configurable) need an
// Idempotency-Key header, a structured-field string such as
// "8e03978e-40d5-43e8-bc93-6894a57f9324" (a plain token is accepted too).
// Missing or malformed keys get 400; a key in use gets 409 with
// Retry-After; a key reused for a different request (method, path, query
// and body by default) gets 422. The first response's status, allow-listed
// headers (Content-Type, Location and HTTPConfig.ReplayHeaders) and body
// are stored and replayed with Idempotency-Replayed: true. Set-Cookie and
// Authorization are never stored. 5xx and 429 responses, and bodies over
// HTTPConfig.MaxResponseBytes, are not stored: the key is released so the
// retry runs. Scope the keys by tenant or actor with HTTPConfig.Scope.
//
// # Retention
//
// Expired records are taken over on their next use, and Store.Purge deletes
// them in batches; run it from cron or with `gormkit idempotency purge`.
//
// # Dialects
//
// PostgreSQL and SQLite reserve with INSERT … ON CONFLICT DO UPDATE … WHERE
// … RETURNING, which never raises a unique violation and so is safe inside
// a PostgreSQL transaction. MySQL and MariaDB use INSERT … ON DUPLICATE KEY
// UPDATE and compare fingerprints and tokens as bytes, not under the
// column's case-insensitive collation.
package idempotency
