package outbox_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/testdb"
	"github.com/gormkit/gormkit/outbox"
)

// Enqueue of more messages than one INSERT takes writes all of them or none:
// a failing later INSERT must not leave the earlier ones behind, to be
// delivered although the caller was told the enqueue failed.
func TestEnqueueManyIsAllOrNothing(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		taken := b.enqueueJobs(t, 1, "taken")[0]

		msgs := make([]outbox.NewMessage, 1500) // more than one INSERT on every dialect
		for i := range msgs {
			msgs[i] = outbox.NewMessage{Kind: outbox.KindJob, Name: "bulk", Payload: i}
		}
		msgs[len(msgs)-1].ID = taken // the last INSERT fails on the primary key
		ids, err := b.ob.Enqueue(b.ctx, msgs...)
		require.Error(t, err)
		require.Nil(t, ids)
		require.EqualValues(t, 1, b.count(t, ""), "no message of the failed enqueue is left")
	})
}
