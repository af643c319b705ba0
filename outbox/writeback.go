package outbox

import (
	"context"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/gormkit/gormkit/models"
)

// Every write-back is a compare-and-set on id + claim_token + pending
// status: a claim that expired and was taken over by another worker, or a
// message already written back, matches nothing and yields ErrClaimLost.

// isPending and isDelivered are the status tests of the write-backs. A
// write-back finds its rows by primary key; the status only confirms them.
// Written as a plain "status = 'pending'", the test matches the leading
// column of the claim index, and a planner without current statistics
// (PostgreSQL and SQLite right after a bulk load, a catch-up after an
// outage) takes that index as the selective one and visits every pending
// row on each write-back. A boolean test ("… IS TRUE", the same rows:
// status is never NULL) is not an index condition on any dialect, so the
// primary key is the only access path left.
const (
	isPending   = "(status = " + sqlPending + ") IS TRUE"
	isDelivered = "(status = " + sqlDelivered + ") IS TRUE"
)

// maxErrorLength bounds the stored last_error.
const maxErrorLength = 8 << 10

// writeBackChunk bounds the IDs of one batched statement.
const writeBackChunk = 1000

// MarkDelivered marks the messages ids of the claim token delivered, with
// one statement per 1,000 IDs. When some were not written, it returns a
// *ClaimLostError naming them (errors.Is(err, ErrClaimLost)); the others
// are delivered. Marking a message this claim already delivered is not an
// error.
func (o *Outbox) MarkDelivered(ctx context.Context, token string, ids ...string) error {
	now := o.now()
	q := "UPDATE " + o.table + " SET status = " + sqlDelivered + ", delivered_at = ?, updated_at = ?, locked_until = NULL" +
		" WHERE id IN ? AND claim_token = ? AND " + isPending
	settled := "SELECT id FROM " + o.table + " WHERE id IN ? AND claim_token = ? AND " + isDelivered
	return o.batchCAS(ctx, token, ids, settled, []any{token}, func(chunk []string) (int64, error) {
		res := o.db.WithContext(ctx).Exec(q, now, now, chunk, token)
		return res.RowsAffected, res.Error
	})
}

// Release gives claimed messages back without counting the attempt: their
// lease ends now and attempts is decremented, so any worker may claim them
// at once. The relay releases the messages it claimed but did not start
// before shutting down. Lost claims are reported as by MarkDelivered.
func (o *Outbox) Release(ctx context.Context, token string, ids ...string) error {
	now := o.now()
	q := "UPDATE " + o.table + " SET locked_until = NULL, claim_token = NULL, updated_at = ?, attempts = attempts - 1" +
		" WHERE id IN ? AND claim_token = ? AND " + isPending
	// A released row has no token left to compare, so "settled" means
	// pending, unleased and unclaimed: nobody else holds it.
	settled := "SELECT id FROM " + o.table + " WHERE id IN ? AND claim_token IS NULL AND locked_until IS NULL AND " + isPending
	return o.batchCAS(ctx, token, ids, settled, nil, func(chunk []string) (int64, error) {
		res := o.db.WithContext(ctx).Exec(q, now, chunk, token)
		return res.RowsAffected, res.Error
	})
}

// Retry ends the claim of message id with a failure: the message becomes
// claimable again at at (now when zero) and cause is kept as last_error.
func (o *Outbox) Retry(ctx context.Context, token, id string, at time.Time, cause string) error {
	if err := checkClaim(token, id); err != nil {
		return err
	}
	now := o.now()
	if at.IsZero() {
		at = now
	}
	q := "UPDATE " + o.table + " SET available_at = ?, last_error = ?, locked_until = NULL, claim_token = NULL, updated_at = ?" +
		" WHERE id = ? AND claim_token = ? AND " + isPending
	return o.singleCAS(ctx, "retry", id, q, models.UTC(at), truncateError(cause), now, id, token)
}

// DeadLetter ends the claim of message id by moving it to the dead letters
// with reason as last_error; it is not claimed again until requeued.
func (o *Outbox) DeadLetter(ctx context.Context, token, id, reason string) error {
	if err := checkClaim(token, id); err != nil {
		return err
	}
	now := o.now()
	q := "UPDATE " + o.table + " SET status = " + sqlDeadLettered + ", dead_lettered_at = ?, last_error = ?, locked_until = NULL, updated_at = ?" +
		" WHERE id = ? AND claim_token = ? AND " + isPending
	return o.singleCAS(ctx, "dead-letter", id, q, now, truncateError(reason), now, id, token)
}

func checkClaim(token, id string) error {
	if token == "" {
		return invalid("empty claim token")
	}
	if id == "" {
		return invalid("empty message ID")
	}
	return nil
}

func (o *Outbox) singleCAS(ctx context.Context, action, id, q string, args ...any) error {
	res := o.db.WithContext(ctx).Exec(q, args...)
	if res.Error != nil {
		return fmt.Errorf("outbox: %s %s: %w", action, id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("outbox: %s %s: %w", action, id, ErrClaimLost)
	}
	return nil
}

// batchCAS runs update over ids in chunks. When fewer rows changed than
// asked, settledQ (binding the chunk, then settledArgs) finds the IDs already in the state
// the write-back asked for; the rest are reported lost.
func (o *Outbox) batchCAS(ctx context.Context, token string, ids []string, settledQ string, settledArgs []any, update func([]string) (int64, error)) error {
	if token == "" {
		return invalid("empty claim token")
	}
	ids = dedupe(ids)
	var lost []string
	for start := 0; start < len(ids); start += writeBackChunk {
		chunk := ids[start:min(start+writeBackChunk, len(ids))]
		n, err := update(chunk)
		if err != nil {
			return fmt.Errorf("outbox: write back %d message(s): %w", len(chunk), err)
		}
		if int(n) >= len(chunk) {
			continue
		}
		var found []string
		args := append([]any{chunk}, settledArgs...)
		if err := o.db.WithContext(ctx).Raw(settledQ, args...).Scan(&found).Error; err != nil {
			return fmt.Errorf("outbox: find lost claims: %w", err)
		}
		settled := make(map[string]bool, len(found))
		for _, id := range found {
			settled[id] = true
		}
		for _, id := range chunk {
			if !settled[id] {
				lost = append(lost, id)
			}
		}
	}
	if len(lost) > 0 {
		return &ClaimLostError{IDs: lost}
	}
	return nil
}

func dedupe(ids []string) []string {
	if len(ids) < 2 {
		return ids
	}
	seen := make(map[string]struct{}, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if _, dup := seen[id]; !dup {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return slices.Clip(out)
}

// truncateError bounds an error text to maxErrorLength bytes of valid UTF-8.
func truncateError(s string) string {
	if len(s) <= maxErrorLength {
		return s
	}
	s = s[:maxErrorLength]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
