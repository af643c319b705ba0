CREATE TABLE IF NOT EXISTS `outbox_messages` (
  id varchar(36) NOT NULL,
  kind varchar(16) NOT NULL,
  name varchar(255) NOT NULL,
  payload json NOT NULL,
  headers json,
  status varchar(16) NOT NULL,
  attempts bigint NOT NULL DEFAULT 0,
  max_attempts bigint NOT NULL,
  available_at datetime(6) NOT NULL,
  locked_until datetime(6),
  claim_token varchar(36),
  last_error text,
  created_at datetime(6) NOT NULL,
  updated_at datetime(6) NOT NULL,
  delivered_at datetime(6),
  dead_lettered_at datetime(6),
  PRIMARY KEY (id),
  INDEX `idx_outbox_messages_claim` (status, available_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `idempotency_records` (
  storage_key char(64) NOT NULL,
  namespace varchar(128) NOT NULL,
  idempotency_key varchar(255) NOT NULL,
  scope_key text NOT NULL,
  fingerprint varchar(128) NOT NULL,
  status varchar(16) NOT NULL,
  result longblob,
  reservation_token varchar(36) NOT NULL,
  locked_until datetime(6),
  expires_at datetime(6) NOT NULL,
  created_at datetime(6) NOT NULL,
  updated_at datetime(6) NOT NULL,
  completed_at datetime(6),
  PRIMARY KEY (storage_key),
  INDEX `idx_idempotency_records_expires` (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
