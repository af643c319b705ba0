package outbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/testdb"
	"github.com/gormkit/gormkit/outbox"
)

type order struct {
	ID    string `gorm:"primaryKey;type:varchar(36)"`
	Total int
}

// shop is the transaction-scoped port set of the test's unit of work.
type shop struct {
	tx     *gorm.DB
	orders string
	events gormkit.EventRecorder
}

func (s shop) place(id string, total int) error {
	if err := s.tx.Table(s.orders).Create(&order{ID: id, Total: total}).Error; err != nil {
		return err
	}
	s.events.Record(gormkit.Event{Name: "order.placed", Payload: map[string]any{"order": id, "total": total},
		Headers: map[string]string{"tenant": "t1"}})
	return nil
}

func TestUnitOfWorkWritesEventsInTheBusinessTransaction(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		orders := testdb.Table(t, db, "orders")
		require.NoError(t, db.Gorm.Table(orders).AutoMigrate(&order{}))
		var published []gormkit.Event
		uow := gormkit.NewUnitOfWork(db.Gorm, func(tx *gorm.DB, ev gormkit.EventRecorder) shop {
			return shop{tx: tx, orders: orders, events: ev}
		}, gormkit.WithEventWriter(b.ob.EventWriter()), gormkit.WithEventBus(gormkit.EventBusFunc(func(_ context.Context, evs []gormkit.Event) error {
			published = append(published, evs...)
			return nil
		})))

		// Commit: the order, the event and a job written with EnqueueTx land together.
		var jobID string
		err := uow.Transaction(b.ctx, func(ctx context.Context, s shop) error {
			if err := s.place("o-1", 42); err != nil {
				return err
			}
			ids, err := b.ob.EnqueueTx(ctx, s.tx, outbox.NewMessage{Kind: outbox.KindJob, Name: "invoice.create", Payload: map[string]string{"order": "o-1"}})
			jobID = ids[0]
			return err
		})
		require.NoError(t, err)
		require.Len(t, published, 1)
		require.NotEmpty(t, published[0].ID, "the writer fills Event.ID")
		event := b.row(t, published[0].ID)
		require.Equal(t, outbox.KindEvent, event.Kind)
		require.Equal(t, "order.placed", event.Name)
		require.JSONEq(t, `{"order":"o-1","total":42}`, string(event.Payload))
		require.JSONEq(t, `{"tenant":"t1"}`, string(event.Headers))
		require.Equal(t, outbox.KindJob, b.row(t, jobID).Kind)

		// Rollback: neither the order nor any message is left.
		err = uow.Transaction(b.ctx, func(ctx context.Context, s shop) error {
			if err := s.place("o-2", 7); err != nil {
				return err
			}
			if _, err := b.ob.EnqueueTx(ctx, s.tx, outbox.NewMessage{Kind: outbox.KindJob, Name: "invoice.create", Payload: 2}); err != nil {
				return err
			}
			return errors.New("payment declined")
		})
		require.EqualError(t, err, "payment declined")
		require.Equal(t, int64(2), b.count(t, ""))
		var n int64
		require.NoError(t, db.Gorm.Table(orders).Count(&n).Error)
		require.Equal(t, int64(1), n)
		require.Len(t, published, 1)

		// A plain GORM transaction works the same way.
		err = db.Gorm.Transaction(func(tx *gorm.DB) error {
			_, err := b.ob.EnqueueTx(b.ctx, tx, outbox.NewMessage{Kind: outbox.KindJob, Name: "x", Payload: 1})
			require.NoError(t, err)
			return errors.New("rollback")
		})
		require.Error(t, err)
		require.Equal(t, int64(2), b.count(t, ""))

		// An event that cannot be stored fails the transaction before commit.
		err = uow.Transaction(b.ctx, func(ctx context.Context, s shop) error {
			if err := s.place("o-3", 1); err != nil {
				return err
			}
			s.events.Record(gormkit.Event{Name: "", Payload: 1})
			return nil
		})
		require.ErrorIs(t, err, outbox.ErrInvalid)
		require.NoError(t, db.Gorm.Table(orders).Count(&n).Error)
		require.Equal(t, int64(1), n)

		// The committed messages are deliverable.
		batch, err := b.ob.Claim(b.ctx, 10, time.Minute)
		require.NoError(t, err)
		require.Len(t, batch.Messages, 2)
	})
}

func TestEnqueueJoinsTheUnitOfWorkInContext(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		uow := gormkit.NewUnitOfWork(db.Gorm, func(tx *gorm.DB, _ gormkit.EventRecorder) *gorm.DB { return tx })

		// Enqueue (not EnqueueTx) inside the unit of work: it rolls back with it.
		// On in-memory SQLite, writing on the root handle instead would wait
		// forever for the only connection.
		errDeclined := errors.New("declined")
		err := uow.Transaction(b.ctx, func(ctx context.Context, _ *gorm.DB) error {
			if _, err := b.ob.Enqueue(ctx, outbox.NewMessage{Kind: outbox.KindJob, Name: "j", Payload: 1}); err != nil {
				return err
			}
			return errDeclined
		})
		require.ErrorIs(t, err, errDeclined)
		require.Zero(t, b.count(t, ""))

		var id string
		err = uow.Transaction(b.ctx, func(ctx context.Context, _ *gorm.DB) error {
			ids, err := b.ob.Enqueue(ctx, outbox.NewMessage{Kind: outbox.KindJob, Name: "j", Payload: 2})
			if err == nil {
				id = ids[0]
			}
			return err
		})
		require.NoError(t, err)
		require.Equal(t, "j", b.row(t, id).Name)
	})
}
