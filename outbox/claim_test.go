package outbox_test

import (
	"encoding/json"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/testdb"
	"github.com/gormkit/gormkit/models"
	"github.com/gormkit/gormkit/outbox"
)

func TestEnqueueAndClaim(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		ids, err := b.ob.Enqueue(b.ctx,
			outbox.NewMessage{Kind: outbox.KindEvent, Name: "order.placed", Payload: map[string]any{"order": "o-1", "total": 42},
				Headers: map[string]string{"traceparent": "00-abc-01"}},
			outbox.NewMessage{Kind: outbox.KindJob, Name: "email.send", Payload: json.RawMessage(`{"to":"a@example.com"}`), MaxAttempts: 3},
		)
		require.NoError(t, err)
		require.Len(t, ids, 2)
		require.Less(t, ids[0], ids[1], "generated IDs are time-ordered")

		row := b.row(t, ids[0])
		require.Equal(t, outbox.StatusPending, row.Status)
		require.Equal(t, outbox.DefaultMaxAttempts, row.MaxAttempts)
		require.Equal(t, 0, row.Attempts)
		require.Equal(t, models.UTC(b.clock.Now()), row.CreatedAt.UTC())
		require.Equal(t, row.CreatedAt.UTC(), row.AvailableAt.UTC())
		require.Nil(t, row.LockedUntil)
		require.Nil(t, row.ClaimToken)

		batch, err := b.ob.Claim(b.ctx, 10, time.Minute)
		require.NoError(t, err)
		require.Len(t, batch.Messages, 2)
		require.NotEmpty(t, batch.Token)
		require.Equal(t, models.UTC(b.clock.Now().Add(time.Minute)), batch.LockedUntil)
		event, job := batch.Messages[0], batch.Messages[1]
		require.Equal(t, ids[0], event.ID)
		require.Equal(t, outbox.KindEvent, event.Kind)
		require.Equal(t, "order.placed", event.Name)
		jsonEq(t, `{"order":"o-1","total":42}`, event.Payload)
		require.Equal(t, map[string]string{"traceparent": "00-abc-01"}, event.Headers)
		require.Equal(t, 1, event.Attempt)
		require.Equal(t, models.UTC(b.clock.Now()), event.CreatedAt)
		require.Equal(t, batch.Token, event.ClaimToken)
		require.Nil(t, job.Headers)
		require.Equal(t, 3, job.MaxAttempts)
		jsonEq(t, `{"to":"a@example.com"}`, job.Payload)

		row = b.row(t, ids[1])
		require.Equal(t, 1, row.Attempts)
		require.Equal(t, batch.Token, *row.ClaimToken)
		require.Equal(t, batch.LockedUntil, row.LockedUntil.UTC())

		again, err := b.ob.Claim(b.ctx, 10, time.Minute)
		require.NoError(t, err)
		require.Empty(t, again.Messages, "leased messages are not claimed twice")

		require.NoError(t, b.ob.MarkDelivered(b.ctx, batch.Token, batch.IDs()...))
		row = b.row(t, ids[0])
		require.Equal(t, outbox.StatusDelivered, row.Status)
		require.NotNil(t, row.DeliveredAt)
		require.Nil(t, row.LockedUntil)

		// Marking again under the same claim is not a lost claim.
		require.NoError(t, b.ob.MarkDelivered(b.ctx, batch.Token, ids[0]))
	})
}

func TestLeaseExpiryReclaims(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		id := b.enqueueJobs(t, 1, "work")[0]

		dead, err := b.ob.Claim(b.ctx, 1, 30*time.Second)
		require.NoError(t, err)
		require.Len(t, dead.Messages, 1)
		// The worker dies: no write-back. Within the lease nobody else gets it.
		b.clock.Advance(29 * time.Second)
		none, err := b.ob.Claim(b.ctx, 1, 30*time.Second)
		require.NoError(t, err)
		require.Empty(t, none.Messages)

		b.clock.Advance(2 * time.Second)
		second, err := b.ob.Claim(b.ctx, 1, 30*time.Second)
		require.NoError(t, err)
		require.Len(t, second.Messages, 1)
		require.Equal(t, id, second.Messages[0].ID)
		require.Equal(t, 2, second.Messages[0].Attempt)
		require.NotEqual(t, dead.Token, second.Token)

		// The dead worker's late write-backs find their claim lost.
		err = b.ob.MarkDelivered(b.ctx, dead.Token, id)
		require.ErrorIs(t, err, outbox.ErrClaimLost)
		var lost *outbox.ClaimLostError
		require.ErrorAs(t, err, &lost)
		require.Equal(t, []string{id}, lost.IDs)
		require.ErrorIs(t, b.ob.Retry(b.ctx, dead.Token, id, time.Time{}, "late"), outbox.ErrClaimLost)
		require.ErrorIs(t, b.ob.DeadLetter(b.ctx, dead.Token, id, "late"), outbox.ErrClaimLost)
		require.ErrorIs(t, b.ob.Release(b.ctx, dead.Token, id), outbox.ErrClaimLost)

		require.NoError(t, b.ob.MarkDelivered(b.ctx, second.Token, id))
		row := b.row(t, id)
		require.Equal(t, outbox.StatusDelivered, row.Status)
		require.Equal(t, 2, row.Attempts)
	})
}

func TestExpiredLastAttemptIsDeadLettered(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		ids := b.enqueueJobs(t, 2, "work", func(m *outbox.NewMessage) { m.MaxAttempts = 1 })

		first, err := b.ob.Claim(b.ctx, 1, time.Minute)
		require.NoError(t, err)
		require.Equal(t, []string{ids[0]}, first.IDs())
		b.clock.Advance(2 * time.Minute) // the worker died during the only attempt

		next, err := b.ob.Claim(b.ctx, 10, time.Minute)
		require.NoError(t, err)
		require.Equal(t, []string{ids[0]}, next.DeadLettered)
		require.Equal(t, []string{ids[1]}, next.IDs())

		row := b.row(t, ids[0])
		require.Equal(t, outbox.StatusDeadLettered, row.Status)
		require.Equal(t, 1, row.Attempts)
		require.NotNil(t, row.DeadLetteredAt)
		require.Nil(t, row.LockedUntil)
		require.Nil(t, row.ClaimToken)
		require.Contains(t, *row.LastError, "lease of the last attempt expired")
		require.ErrorIs(t, b.ob.MarkDelivered(b.ctx, first.Token, ids[0]), outbox.ErrClaimLost)
	})
}

func TestDelayedAndOrdered(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		now := b.clock.Now()
		// IDs sort opposite to availability, 1µs apart, so only available_at
		// can give the order.
		msgs := []outbox.NewMessage{
			{ID: "c", Kind: outbox.KindJob, Name: "tick", Payload: 0, AvailableAt: now},
			{ID: "b", Kind: outbox.KindJob, Name: "tick", Payload: 1, AvailableAt: now.Add(time.Microsecond)},
			{ID: "a", Kind: outbox.KindJob, Name: "tick", Payload: 2, AvailableAt: now.Add(2 * time.Microsecond)},
			{ID: "later", Kind: outbox.KindJob, Name: "tick", Payload: 3, AvailableAt: now.Add(time.Hour)},
		}
		_, err := b.ob.Enqueue(b.ctx, msgs...)
		require.NoError(t, err)

		none, err := b.ob.Claim(b.ctx, 10, 2*time.Hour)
		require.NoError(t, err)
		require.Len(t, none.Messages, 1, "only the message available now")
		require.Equal(t, "c", none.Messages[0].ID)

		b.clock.Advance(time.Microsecond)
		one, err := b.ob.Claim(b.ctx, 10, 2*time.Hour)
		require.NoError(t, err)
		require.Equal(t, []string{"b"}, one.IDs())

		b.clock.Advance(59 * time.Minute)
		rest, err := b.ob.Claim(b.ctx, 10, 2*time.Hour)
		require.NoError(t, err)
		require.Equal(t, []string{"a"}, rest.IDs(), "a delayed message is not claimed early")

		b.clock.Advance(2 * time.Hour)
		// Every lease expired: claims come back oldest available first.
		var order []string
		for {
			batch, err := b.ob.Claim(b.ctx, 1, time.Hour)
			require.NoError(t, err)
			if len(batch.Messages) == 0 {
				break
			}
			order = append(order, batch.Messages[0].ID)
		}
		require.Equal(t, []string{"c", "b", "a", "later"}, order)
	})
}

func TestBatchedWriteBackReportsLost(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		ids := b.enqueueJobs(t, 5, "work")
		batch, err := b.ob.Claim(b.ctx, 5, time.Minute)
		require.NoError(t, err)
		require.Len(t, batch.Messages, 5)

		// Two of the five expire and go to another worker.
		require.NoError(t, b.ob.Retry(b.ctx, batch.Token, ids[1], time.Time{}, "x"))
		require.NoError(t, b.ob.Retry(b.ctx, batch.Token, ids[3], time.Time{}, "x"))
		other, err := b.ob.Claim(b.ctx, 5, time.Minute)
		require.NoError(t, err)
		require.ElementsMatch(t, []string{ids[1], ids[3]}, other.IDs())

		err = b.ob.MarkDelivered(b.ctx, batch.Token, ids...)
		var lost *outbox.ClaimLostError
		require.ErrorAs(t, err, &lost)
		sort.Strings(lost.IDs)
		require.Equal(t, []string{ids[1], ids[3]}, lost.IDs)
		require.Equal(t, int64(3), b.count(t, outbox.StatusDelivered))

		// Release gives back without spending the attempt.
		require.NoError(t, b.ob.Release(b.ctx, other.Token, other.IDs()...))
		row := b.row(t, ids[1])
		require.Equal(t, 1, row.Attempts)
		require.Nil(t, row.ClaimToken)
		again, err := b.ob.Claim(b.ctx, 5, time.Minute)
		require.NoError(t, err)
		require.Len(t, again.Messages, 2, "released messages are claimable at once")
	})
}

func TestValidation(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		b.enqueueJobs(t, 1, "existing")

		bad := []outbox.NewMessage{
			{Kind: "command", Name: "x", Payload: 1},
			{Kind: outbox.KindJob, Name: "", Payload: 1},
			{Kind: outbox.KindJob, Name: "x", Payload: json.RawMessage(`{"unterminated"`)},
			{Kind: outbox.KindJob, Name: "x", Payload: func() {}},
			{Kind: outbox.KindJob, Name: "x", Payload: 1, MaxAttempts: -1},
			{Kind: outbox.KindJob, Name: "x", Payload: 1, ID: "0123456789012345678901234567890123456789"},
		}
		for _, m := range bad {
			// The valid message in front must not be written either.
			_, err := b.ob.Enqueue(b.ctx, outbox.NewMessage{Kind: outbox.KindJob, Name: "ok", Payload: 1}, m)
			require.ErrorIs(t, err, outbox.ErrInvalid, "%+v", m)
		}
		_, err := b.ob.Claim(b.ctx, -1, time.Minute)
		require.ErrorIs(t, err, outbox.ErrInvalid)
		_, err = b.ob.Claim(b.ctx, 0, time.Minute)
		require.ErrorIs(t, err, outbox.ErrInvalid)
		_, err = b.ob.Claim(b.ctx, 1, 0)
		require.ErrorIs(t, err, outbox.ErrInvalid)
		require.ErrorIs(t, b.ob.MarkDelivered(b.ctx, "", "id"), outbox.ErrInvalid)
		require.ErrorIs(t, b.ob.Retry(b.ctx, "tok", "", time.Time{}, ""), outbox.ErrInvalid)
		_, err = b.ob.Purge(b.ctx, outbox.PurgeOptions{})
		require.ErrorIs(t, err, outbox.ErrInvalid)
		_, err = b.ob.List(b.ctx, outbox.ListOptions{Status: "weird"})
		require.ErrorIs(t, err, outbox.ErrInvalid)

		for _, name := range []string{"", "x; DROP TABLE " + b.table, `a"b`, "1abc", "a.b.c"} {
			if name == "" {
				continue // empty means the default table
			}
			_, err := outbox.New(db.Gorm, outbox.Config{Table: name})
			require.ErrorIs(t, err, outbox.ErrInvalid, name)
		}
		_, err = outbox.New(db.Gorm, outbox.Config{DefaultMaxAttempts: -2})
		require.ErrorIs(t, err, outbox.ErrInvalid)

		require.Equal(t, int64(1), b.count(t, ""), "bad input left the table as it was")
		var m models.OutboxMessage
		require.NoError(t, db.Gorm.Table(b.table).Take(&m).Error)
		require.Equal(t, "existing", m.Name)
		require.True(t, errors.Is(outbox.Permanent(errBoom), errBoom))
	})
}
