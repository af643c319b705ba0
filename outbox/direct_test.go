package outbox_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/callbacks"
	"github.com/gormkit/gormkit/internal/testdb"
	"github.com/gormkit/gormkit/outbox"
)

type ctxKey struct{}

// The enqueue INSERT runs on the connection pool without GORM's statement
// builder, and still reaches the query observers like any statement.
func TestEnqueueIsObserved(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		rec := callbacks.NewRecorder(0)
		require.NoError(t, db.Gorm.Use(gormkit.NewPlugin(gormkit.WithObservers(rec), gormkit.WithPortName("orders"), gormkit.WithParamValues())))
		b := setup(t, db)
		var seen []any
		ctxCheck := callbacks.ObserverFunc(func(ctx context.Context, e callbacks.QueryEvent) {
			if strings.HasPrefix(e.SQL, "INSERT") {
				seen = append(seen, ctx.Value(ctxKey{}))
			}
		})
		require.NoError(t, callbacks.Register(db.Gorm, callbacks.Config{Name: "ctxcheck", Observers: []callbacks.Observer{ctxCheck}}))
		rec.Reset()

		ctx := context.WithValue(b.ctx, ctxKey{}, "mine")
		msg := outbox.NewMessage{ID: "m1", Kind: outbox.KindJob, Name: "n", Payload: 1}
		err := db.Gorm.Transaction(func(tx *gorm.DB) error {
			_, err := b.ob.EnqueueTx(ctx, tx, msg)
			return err
		})
		require.NoError(t, err)
		events := rec.Events()
		require.Len(t, events, 1)
		e := events[0]
		require.True(t, strings.HasPrefix(e.SQL, "INSERT INTO "), e.SQL)
		require.Equal(t, callbacks.OpRaw, e.Operation)
		require.Equal(t, b.table, e.Table)
		require.Equal(t, 9, e.ParamCount)
		require.Len(t, e.Params, 9)
		require.Equal(t, "m1", e.Params[0])
		require.EqualValues(t, 1, e.RowsAffected)
		require.Equal(t, "orders", e.Port)
		require.NoError(t, e.Err)
		require.False(t, e.Time.IsZero())
		require.Equal(t, []any{"mine"}, seen, "observers get the context given to EnqueueTx")

		// A failed INSERT is an error event, and the error is returned.
		rec.Reset()
		_, err = b.ob.Enqueue(b.ctx, msg)
		require.Error(t, err)
		require.Len(t, rec.Events(), 1)
		require.Error(t, rec.Events()[0].Err)

		// A dry run writes nothing.
		_, err = b.ob.EnqueueTx(b.ctx, db.Gorm.Session(&gorm.Session{DryRun: true}), outbox.NewMessage{ID: "dry", Kind: outbox.KindJob, Name: "n", Payload: 1})
		require.NoError(t, err)
		require.EqualValues(t, 1, b.count(t, ""))

		// A handle carrying an error returns it without running anything.
		broken := db.Gorm.Session(&gorm.Session{})
		_ = broken.AddError(gorm.ErrInvalidDB)
		_, err = b.ob.EnqueueTx(b.ctx, broken, outbox.NewMessage{Kind: outbox.KindJob, Name: "n", Payload: 1})
		require.ErrorIs(t, err, gorm.ErrInvalidDB)
		require.EqualValues(t, 1, b.count(t, ""))

		// A rolled-back transaction takes its messages with it.
		_ = db.Gorm.Transaction(func(tx *gorm.DB) error {
			_, err := b.ob.EnqueueTx(b.ctx, tx, outbox.NewMessage{ID: "rb", Kind: outbox.KindJob, Name: "n", Payload: 1})
			require.NoError(t, err)
			return gorm.ErrInvalidTransaction
		})
		require.EqualValues(t, 1, b.count(t, ""))
	})
}
