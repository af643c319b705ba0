package outbox_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/testdb"
	"github.com/gormkit/gormkit/outbox"
)

// A claim window that mixes exhausted messages with fresh ones
// dead-letters the exhausted ones, runs the fresh ones, and takes no more
// rows in all than its limit.
func TestClaimDeadLettersWithinLimit(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		exhausted := b.enqueueJobs(t, 2, "work", func(m *outbox.NewMessage) { m.MaxAttempts = 1 })
		first, err := b.ob.Claim(b.ctx, 2, time.Minute)
		require.NoError(t, err)
		require.ElementsMatch(t, exhausted, first.IDs())
		b.clock.Advance(2 * time.Minute) // the worker died during the only attempt
		fresh := b.enqueueJobs(t, 3, "work")

		next, err := b.ob.Claim(b.ctx, 3, time.Minute)
		require.NoError(t, err)
		require.ElementsMatch(t, exhausted, next.DeadLettered)
		require.Equal(t, []string{fresh[0]}, next.IDs())
		for _, id := range exhausted {
			row := b.row(t, id)
			require.Equal(t, outbox.StatusDeadLettered, row.Status)
			require.Equal(t, 1, row.Attempts)
			require.Nil(t, row.LockedUntil)
			require.Nil(t, row.ClaimToken)
			require.Contains(t, *row.LastError, "lease of the last attempt expired")
		}

		rest, err := b.ob.Claim(b.ctx, 3, time.Minute)
		require.NoError(t, err)
		require.Empty(t, rest.DeadLettered)
		require.Equal(t, fresh[1:], rest.IDs())
	})
}

// An exhausted message nobody holds (its last attempt was retried by
// hand) is dead-lettered by the next claim, never run, and keeps the
// error its retry recorded.
func TestClaimDeadLettersExhaustedWithoutLease(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		id := b.enqueueJobs(t, 1, "work", func(m *outbox.NewMessage) { m.MaxAttempts = 1 })[0]
		first, err := b.ob.Claim(b.ctx, 10, time.Minute)
		require.NoError(t, err)
		require.NoError(t, b.ob.Retry(b.ctx, first.Token, id, time.Time{}, "handler failed"))

		next, err := b.ob.Claim(b.ctx, 10, time.Minute)
		require.NoError(t, err)
		require.Empty(t, next.Messages)
		require.Equal(t, []string{id}, next.DeadLettered)
		row := b.row(t, id)
		require.Equal(t, outbox.StatusDeadLettered, row.Status)
		require.Equal(t, 1, row.Attempts)
		require.NotNil(t, row.DeadLetteredAt)
		require.Equal(t, "handler failed", *row.LastError)

		again, err := b.ob.Claim(b.ctx, 10, time.Minute)
		require.NoError(t, err)
		require.Empty(t, again.Messages)
		require.Empty(t, again.DeadLettered)
	})
}
