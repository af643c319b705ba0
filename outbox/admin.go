package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/gormkit/gormkit/models"
)

// Stats summarizes the outbox.
type Stats struct {
	// Pending counts messages waiting for delivery, leased ones included.
	Pending int64
	// Delivered counts delivered messages not yet purged.
	Delivered int64
	// DeadLettered counts dead letters.
	DeadLettered int64
	// OldestPendingAge is how long the oldest available pending message has
	// been available (now - available_at, by the outbox clock): the relay's
	// lag. Zero when nothing pending is available yet.
	OldestPendingAge time.Duration
}

// Stats counts messages by status in one query.
func (o *Outbox) Stats(ctx context.Context) (Stats, error) {
	rows, err := o.db.WithContext(ctx).
		Raw("SELECT status, COUNT(*), MIN(available_at) FROM " + o.table + " GROUP BY status").Rows()
	if err != nil {
		return Stats{}, fmt.Errorf("outbox: stats: %w", err)
	}
	defer rows.Close()
	var s Stats
	now := o.now()
	for rows.Next() {
		var (
			status string
			n      int64
			oldest dbTime
		)
		if err := rows.Scan(&status, &n, &oldest); err != nil {
			return Stats{}, fmt.Errorf("outbox: stats: %w", err)
		}
		switch status {
		case StatusPending:
			s.Pending = n
			if oldest.valid && oldest.t.Before(now) {
				s.OldestPendingAge = now.Sub(oldest.t)
			}
		case StatusDelivered:
			s.Delivered = n
		case StatusDeadLettered:
			s.DeadLettered = n
		}
	}
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("outbox: stats: %w", err)
	}
	return s, nil
}

// ListOptions selects messages for List.
type ListOptions struct {
	// Status is the status listed. Default StatusDeadLettered.
	Status string
	// Limit is the most messages returned. Default 100.
	Limit int
	// After is a cursor: only messages whose ID sorts after it are listed.
	// Pass the last ID of a page to get the next. Default "" (from the
	// start).
	After string
}

// List returns messages of one status in ID order (the order they were
// enqueued in, for generated IDs), a page at a time.
func (o *Outbox) List(ctx context.Context, opts ListOptions) ([]models.OutboxMessage, error) {
	if opts.Status == "" {
		opts.Status = StatusDeadLettered
	}
	if opts.Status != StatusPending && opts.Status != StatusDelivered && opts.Status != StatusDeadLettered {
		return nil, invalid("status %q is not %s, %s or %s", opts.Status, StatusPending, StatusDelivered, StatusDeadLettered)
	}
	if opts.Limit < 0 {
		return nil, invalid("list limit is %d, want 0 (the default) or more", opts.Limit)
	}
	if opts.Limit == 0 {
		opts.Limit = 100
	}
	var out []models.OutboxMessage
	q := "SELECT * FROM " + o.table + " WHERE status = ? AND id > ? ORDER BY id LIMIT ?"
	if err := o.db.WithContext(ctx).Raw(q, opts.Status, opts.After, opts.Limit).Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("outbox: list: %w", err)
	}
	return out, nil
}

// ListDeadLetters returns up to limit dead letters (100 when 0) whose IDs
// sort after the cursor after ("" for the first page).
func (o *Outbox) ListDeadLetters(ctx context.Context, limit int, after string) ([]models.OutboxMessage, error) {
	return o.List(ctx, ListOptions{Status: StatusDeadLettered, Limit: limit, After: after})
}

// requeueSet makes a dead letter pending again: attempts reset, available
// now, lock and token cleared; last_error is kept for the record.
// It binds: now, now.
const requeueSet = "status = " + sqlPending + ", attempts = 0, available_at = ?, locked_until = NULL, claim_token = NULL, dead_lettered_at = NULL, updated_at = ?"

// Requeue makes the given dead letters pending again with fresh attempts,
// available now, and returns how many it requeued. IDs that are not dead
// letters are left alone.
func (o *Outbox) Requeue(ctx context.Context, ids ...string) (int64, error) {
	ids = dedupe(ids)
	now := o.now()
	var total int64
	for start := 0; start < len(ids); start += writeBackChunk {
		chunk := ids[start:min(start+writeBackChunk, len(ids))]
		res := o.db.WithContext(ctx).Exec("UPDATE "+o.table+" SET "+requeueSet+" WHERE status = "+sqlDeadLettered+" AND id IN ?",
			now, now, chunk)
		if res.Error != nil {
			return total, fmt.Errorf("outbox: requeue: %w", res.Error)
		}
		total += res.RowsAffected
	}
	return total, nil
}

// RequeueAll requeues every dead letter, as Requeue does, and returns how
// many.
func (o *Outbox) RequeueAll(ctx context.Context) (int64, error) {
	now := o.now()
	res := o.db.WithContext(ctx).Exec("UPDATE "+o.table+" SET "+requeueSet+" WHERE status = "+sqlDeadLettered,
		now, now)
	if res.Error != nil {
		return 0, fmt.Errorf("outbox: requeue all: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// PurgeOptions selects what Purge deletes.
type PurgeOptions struct {
	// OlderThan is the retention: messages delivered or dead-lettered more
	// than this long ago (by the outbox clock) are deleted. Required,
	// positive.
	OlderThan time.Duration
	// Status limits the purge to StatusDelivered or StatusDeadLettered.
	// Default "" (both).
	Status string
	// BatchSize is the most rows one DELETE removes, so a large purge never
	// holds long locks. Default 1000.
	BatchSize int
}

// purgeWhere selects finished messages older than a cutoff. It binds:
// delivered status, cutoff, dead_lettered status, cutoff.
const purgeWhere = "((status = ? AND delivered_at < ?) OR (status = ? AND dead_lettered_at < ?))"

// Purge deletes delivered and dead-lettered messages older than the
// retention, in batches of BatchSize rows, and returns how many it
// deleted. Pending messages are never purged.
func (o *Outbox) Purge(ctx context.Context, opts PurgeOptions) (int64, error) {
	if opts.OlderThan <= 0 {
		return 0, invalid("purge retention is %v, want a positive duration", opts.OlderThan)
	}
	if opts.BatchSize < 0 {
		return 0, invalid("purge batch size is %d, want 0 (the default) or more", opts.BatchSize)
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = 1000
	}
	delivered, dead := StatusDelivered, StatusDeadLettered
	switch opts.Status {
	case "":
	case StatusDelivered:
		dead = "" // matches no row
	case StatusDeadLettered:
		delivered = ""
	default:
		return 0, invalid("purge status %q is not %s or %s", opts.Status, StatusDelivered, StatusDeadLettered)
	}
	cutoff := models.UTC(o.now().Add(-opts.OlderThan))
	q := o.sql.purgeSQL(o.table)
	var total int64
	for {
		res := o.db.WithContext(ctx).Exec(q, delivered, cutoff, dead, cutoff, opts.BatchSize)
		if res.Error != nil {
			return total, fmt.Errorf("outbox: purge: %w", res.Error)
		}
		total += res.RowsAffected
		if res.RowsAffected < int64(opts.BatchSize) {
			return total, nil
		}
	}
}
