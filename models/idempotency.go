package models

import "time"

// Idempotency record statuses.
const (
	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"
)

// DefaultIdempotencyTable is the default idempotency table name.
const DefaultIdempotencyTable = "idempotency_records"

// Length limits of idempotency identifiers, checked before any SQL runs.
const (
	MaxNamespaceLength   = 128
	MaxKeyLength         = 255
	MaxFingerprintLength = 128
)

// IdempotencyRecord is one row of the idempotency table.
type IdempotencyRecord struct {
	// StorageKey is the hex SHA-256 of namespace, key and scope key: fixed
	// width, so any key length fits an index on every dialect.
	StorageKey string `gorm:"column:storage_key;type:char(64);primaryKey;not null"`
	Namespace  string `gorm:"column:namespace;type:varchar(128);not null"`
	Key        string `gorm:"column:idempotency_key;type:varchar(255);not null"`
	// ScopeKey is the canonical, key-sorted serialization of the scope.
	ScopeKey    string `gorm:"column:scope_key;type:text;not null"`
	Fingerprint string `gorm:"column:fingerprint;type:varchar(128);not null"`
	// Status is in_progress or completed.
	Status string `gorm:"column:status;type:varchar(16);not null"`
	Result []byte `gorm:"column:result"`
	// ReservationToken identifies the running attempt; Complete and Fail compare it.
	ReservationToken string `gorm:"column:reservation_token;type:varchar(36);not null"`
	// LockedUntil is the lease of the running attempt.
	LockedUntil *time.Time `gorm:"column:locked_until;precision:6"`
	// ExpiresAt ends the record's retention; after it the key is new again.
	ExpiresAt   time.Time  `gorm:"column:expires_at;precision:6;not null;index:,composite:expires"`
	CreatedAt   time.Time  `gorm:"column:created_at;precision:6;not null;autoCreateTime:false"`
	UpdatedAt   time.Time  `gorm:"column:updated_at;precision:6;not null;autoUpdateTime:false"`
	CompletedAt *time.Time `gorm:"column:completed_at;precision:6"`
}

// TableName returns DefaultIdempotencyTable; pass another name with db.Table.
func (IdempotencyRecord) TableName() string { return DefaultIdempotencyTable }
