package outbox_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/testdb"
	"github.com/gormkit/gormkit/outbox"
)

// deadLetter claims every available message and dead-letters it.
func (b *bundle) deadLetterAll(t *testing.T) {
	t.Helper()
	batch, err := b.ob.Claim(b.ctx, 1000, time.Minute)
	require.NoError(t, err)
	for _, m := range batch.Messages {
		require.NoError(t, b.ob.DeadLetter(b.ctx, batch.Token, m.ID, "gave up on "+m.ID))
	}
}

func TestStatsListAndRequeue(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		s, err := b.ob.Stats(b.ctx)
		require.NoError(t, err)
		require.Equal(t, outbox.Stats{}, s)

		dead := b.enqueueJobs(t, 5, "bad")
		b.deadLetterAll(t)
		b.clock.Advance(time.Second)
		b.enqueueJobs(t, 2, "good")
		b.enqueueJobs(t, 1, "later", func(m *outbox.NewMessage) { m.AvailableAt = b.clock.Now().Add(time.Hour) })
		b.clock.Advance(90 * time.Second)

		s, err = b.ob.Stats(b.ctx)
		require.NoError(t, err)
		require.Equal(t, outbox.Stats{Pending: 3, DeadLettered: 5, OldestPendingAge: 90 * time.Second}, s)

		page1, err := b.ob.ListDeadLetters(b.ctx, 3, "")
		require.NoError(t, err)
		require.Len(t, page1, 3)
		page2, err := b.ob.ListDeadLetters(b.ctx, 3, page1[2].ID)
		require.NoError(t, err)
		require.Len(t, page2, 2)
		var listed []string
		for _, m := range append(page1, page2...) {
			listed = append(listed, m.ID)
			require.Equal(t, outbox.StatusDeadLettered, m.Status)
			require.Equal(t, "gave up on "+m.ID, *m.LastError)
			require.NotNil(t, m.DeadLetteredAt)
		}
		require.Equal(t, dead, listed, "pages in ID order")
		pending, err := b.ob.List(b.ctx, outbox.ListOptions{Status: outbox.StatusPending})
		require.NoError(t, err)
		require.Len(t, pending, 3)

		n, err := b.ob.Requeue(b.ctx, dead[0], dead[1], dead[1], "no-such-id", pending[0].ID)
		require.NoError(t, err)
		require.Equal(t, int64(2), n, "only dead letters are requeued")
		row := b.row(t, dead[0])
		require.Equal(t, outbox.StatusPending, row.Status)
		require.Equal(t, 0, row.Attempts)
		require.Nil(t, row.DeadLetteredAt)
		require.Nil(t, row.ClaimToken)
		require.Equal(t, b.clock.Now().Truncate(time.Microsecond), row.AvailableAt.UTC())
		require.Equal(t, "gave up on "+dead[0], *row.LastError, "the last error is kept")

		n, err = b.ob.RequeueAll(b.ctx)
		require.NoError(t, err)
		require.Equal(t, int64(3), n)
		require.Equal(t, int64(0), b.count(t, outbox.StatusDeadLettered))

		batch, err := b.ob.Claim(b.ctx, 100, time.Minute)
		require.NoError(t, err)
		require.Len(t, batch.Messages, 7, "requeued messages are available now")
		for _, m := range batch.Messages {
			require.Equal(t, 1, m.Attempt)
		}
	})
}

func TestPurge(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		old := b.enqueueJobs(t, 7, "old")
		batch, err := b.ob.Claim(b.ctx, 5, time.Minute)
		require.NoError(t, err)
		require.NoError(t, b.ob.MarkDelivered(b.ctx, batch.Token, batch.IDs()...))
		b.deadLetterAll(t) // the other two
		b.clock.Advance(48 * time.Hour)

		recent := b.enqueueJobs(t, 3, "recent")
		batch, err = b.ob.Claim(b.ctx, 2, time.Minute)
		require.NoError(t, err)
		require.NoError(t, b.ob.MarkDelivered(b.ctx, batch.Token, batch.IDs()...))
		b.deadLetterAll(t)
		b.enqueueJobs(t, 1, "pending")
		b.clock.Advance(time.Hour)

		n, err := b.ob.Purge(b.ctx, outbox.PurgeOptions{OlderThan: 24 * time.Hour, Status: outbox.StatusDeadLettered})
		require.NoError(t, err)
		require.Equal(t, int64(2), n)
		n, err = b.ob.Purge(b.ctx, outbox.PurgeOptions{OlderThan: 24 * time.Hour, BatchSize: 2})
		require.NoError(t, err)
		require.Equal(t, int64(5), n, "in batches of 2 until none is left")
		require.Equal(t, int64(4), b.count(t, ""))
		for _, id := range old {
			var c int64
			require.NoError(t, db.Gorm.Table(b.table).Where("id = ?", id).Count(&c).Error)
			require.Zero(t, c)
		}
		require.Equal(t, outbox.StatusDelivered, b.row(t, recent[0]).Status)

		// Pending messages are never purged, however old.
		b.clock.Advance(1000 * time.Hour)
		n, err = b.ob.Purge(b.ctx, outbox.PurgeOptions{OlderThan: time.Hour})
		require.NoError(t, err)
		require.Equal(t, int64(3), n)
		require.Equal(t, int64(1), b.count(t, outbox.StatusPending))
	})
}
