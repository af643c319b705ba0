package models

import "time"

// Outbox message kinds.
const (
	KindEvent = "event" // a domain event, fanned out to subscribers
	KindJob   = "job"   // a command for exactly one handler
)

// Outbox message statuses.
const (
	StatusPending      = "pending"
	StatusDelivered    = "delivered"
	StatusDeadLettered = "dead_lettered"
)

// DefaultOutboxTable is the default outbox table name.
const DefaultOutboxTable = "outbox_messages"

// OutboxMessage is one row of the outbox table.
type OutboxMessage struct {
	// ID is a time-ordered UUID (version 7). It is the last column of the
	// claim index, so claims ordered by (available_at, id) read the index
	// in order even when many messages share one available_at (every
	// message of one Enqueue call does).
	ID      string `gorm:"column:id;type:varchar(36);primaryKey;not null;index:,composite:claim,priority:3"`
	Kind    string `gorm:"column:kind;type:varchar(16);not null"`
	Name    string `gorm:"column:name;type:varchar(255);not null"`
	Payload JSON   `gorm:"column:payload;not null"`
	Headers JSON   `gorm:"column:headers"`
	// Status is pending, delivered or dead_lettered.
	Status string `gorm:"column:status;type:varchar(16);not null;index:,composite:claim,priority:1"`
	// Attempts counts claims; it is incremented when a worker claims the row.
	Attempts    int `gorm:"column:attempts;not null;default:0"`
	MaxAttempts int `gorm:"column:max_attempts;not null"`
	// AvailableAt is the earliest time the message may be claimed.
	AvailableAt time.Time `gorm:"column:available_at;precision:6;not null;index:,composite:claim,priority:2"`
	// LockedUntil is the end of the current claim's lease.
	LockedUntil *time.Time `gorm:"column:locked_until;precision:6"`
	// ClaimToken identifies the current claim; write-backs compare it.
	ClaimToken     *string    `gorm:"column:claim_token;type:varchar(36)"`
	LastError      *string    `gorm:"column:last_error;type:text"`
	CreatedAt      time.Time  `gorm:"column:created_at;precision:6;not null;autoCreateTime:false"`
	UpdatedAt      time.Time  `gorm:"column:updated_at;precision:6;not null;autoUpdateTime:false"`
	DeliveredAt    *time.Time `gorm:"column:delivered_at;precision:6"`
	DeadLetteredAt *time.Time `gorm:"column:dead_lettered_at;precision:6"`
}

// TableName returns DefaultOutboxTable; pass another name with db.Table.
func (OutboxMessage) TableName() string { return DefaultOutboxTable }
