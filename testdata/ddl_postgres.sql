CREATE TABLE IF NOT EXISTS "outbox_messages" (
  id varchar(36) NOT NULL,
  kind varchar(16) NOT NULL,
  name varchar(255) NOT NULL,
  payload jsonb NOT NULL,
  headers jsonb,
  status varchar(16) NOT NULL,
  attempts bigint NOT NULL DEFAULT 0,
  max_attempts bigint NOT NULL,
  available_at timestamptz(6) NOT NULL,
  locked_until timestamptz(6),
  claim_token varchar(36),
  last_error text,
  created_at timestamptz(6) NOT NULL,
  updated_at timestamptz(6) NOT NULL,
  delivered_at timestamptz(6),
  dead_lettered_at timestamptz(6),
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
  result bytea,
  reservation_token varchar(36) NOT NULL,
  locked_until timestamptz(6),
  expires_at timestamptz(6) NOT NULL,
  created_at timestamptz(6) NOT NULL,
  updated_at timestamptz(6) NOT NULL,
  completed_at timestamptz(6),
  PRIMARY KEY (storage_key)
);

CREATE INDEX IF NOT EXISTS "idx_idempotency_records_expires" ON "idempotency_records" (expires_at);
