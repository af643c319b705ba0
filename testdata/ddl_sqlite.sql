CREATE TABLE IF NOT EXISTS "outbox_messages" (
  id varchar(36) NOT NULL,
  kind varchar(16) NOT NULL,
  name varchar(255) NOT NULL,
  payload text NOT NULL,
  headers text,
  status varchar(16) NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL,
  available_at datetime NOT NULL,
  locked_until datetime,
  claim_token varchar(36),
  last_error text,
  created_at datetime NOT NULL,
  updated_at datetime NOT NULL,
  delivered_at datetime,
  dead_lettered_at datetime,
  PRIMARY KEY (id)
);

CREATE INDEX IF NOT EXISTS "idx_outbox_messages_claim" ON "outbox_messages" (status, available_at, id);

CREATE TABLE IF NOT EXISTS "idempotency_records" (
  storage_key char(64) NOT NULL,
  namespace varchar(128) NOT NULL,
  idempotency_key varchar(255) NOT NULL,
  scope_key text NOT NULL,
  fingerprint varchar(128) NOT NULL,
  status varchar(16) NOT NULL,
  result blob,
  reservation_token varchar(36) NOT NULL,
  locked_until datetime,
  expires_at datetime NOT NULL,
  created_at datetime NOT NULL,
  updated_at datetime NOT NULL,
  completed_at datetime,
  PRIMARY KEY (storage_key)
);

CREATE INDEX IF NOT EXISTS "idx_idempotency_records_expires" ON "idempotency_records" (expires_at);
