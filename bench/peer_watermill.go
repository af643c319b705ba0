package main

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
)

// watermillPeer is watermill-sql on a database/sql pool (pgx's stdlib
// driver), with its message and offset tables in the bench schema.
type watermillPeer struct {
	once    sync.Once
	err     error
	db      *sql.DB
	schema  wsql.DefaultPostgreSQLSchema
	offsets wsql.DefaultPostgreSQLOffsetsAdapter
	// tables maps a topic to its messages and offsets table names.
	tables map[string][2]string
}

func (b *bench) watermill(ctx context.Context) (*watermillPeer, error) {
	p := b.watermillState
	p.once.Do(func() {
		p.tables = map[string][2]string{}
		msgTable := func(topic string) string { return `"` + b.env.schema + `"."watermill_` + topic + `"` }
		offTable := func(topic string) string { return `"` + b.env.schema + `"."watermill_offsets_` + topic + `"` }
		p.schema = wsql.DefaultPostgreSQLSchema{GenerateMessagesTableName: msgTable, SubscribeBatchSize: drainBatchSize}
		p.offsets = wsql.DefaultPostgreSQLOffsetsAdapter{GenerateMessagesOffsetsTableName: offTable}
		if p.db, p.err = sql.Open("pgx", b.env.pgURL); p.err != nil {
			return
		}
		p.db.SetMaxOpenConns(serverPoolSize)
		p.db.SetMaxIdleConns(serverPoolSize)
		b.env.onCleanup(func(context.Context) error { return p.db.Close() })
		p.err = p.db.PingContext(ctx)
	})
	return p, p.err
}

// topic creates the tables of a topic.
func (p *watermillPeer) topic(topic string) error {
	sub, err := p.subscriber()
	if err != nil {
		return err
	}
	defer sub.Close()
	if err := sub.SubscribeInitialize(topic); err != nil {
		return err
	}
	p.tables[topic] = [2]string{p.schema.MessagesTable(topic), p.offsets.MessagesOffsetsTable(topic)}
	return nil
}

func (p *watermillPeer) truncate(ctx context.Context, topic string) error {
	t := p.tables[topic]
	_, err := p.db.ExecContext(ctx, "TRUNCATE "+t[0]+", "+t[1])
	return err
}

func (p *watermillPeer) subscriber() (*wsql.Subscriber, error) {
	return wsql.NewSubscriber(wsql.BeginnerFromStdSQL(p.db), wsql.SubscriberConfig{
		ConsumerGroup:  "bench",
		SchemaAdapter:  p.schema,
		OffsetsAdapter: p.offsets,
		PollInterval:   drainPollInterval,
	}, nil)
}

func newWatermillMessage(i int) *message.Message {
	return message.NewMessage(watermill.NewUUID(), mustJSON(newOrder(i)))
}

// watermillEnqueue: the business insert and a watermill-sql Publish on the
// same *sql.Tx (a publisher per transaction, as watermill documents it).
func (b *bench) watermillEnqueue(name string) *contender {
	var p *watermillPeer
	topic := "enqueue_" + b.env.suffix
	orders := b.env.table("postgres", "orders_watermill")
	return &contender{
		name: name,
		setup: func(ctx context.Context) error {
			var err error
			if p, err = b.watermill(ctx); err != nil {
				return err
			}
			if _, err := p.db.ExecContext(ctx, ordersDDL(orders)); err != nil {
				return err
			}
			return p.topic(topic)
		},
		prepare: func(ctx context.Context, _ int) error {
			if _, err := p.db.ExecContext(ctx, "TRUNCATE "+orders); err != nil {
				return err
			}
			return p.truncate(ctx, topic)
		},
		run: func(ctx context.Context, n int) error {
			return parallel(ctx, n, b.o.workers, func(ctx context.Context, _, i int) error {
				return inStdTx(ctx, p.db, func(tx *sql.Tx) error {
					o := newOrder(i)
					if err := tx.QueryRowContext(ctx, "INSERT INTO "+orders+" (customer, amount, created_at) VALUES ($1, $2, $3) RETURNING id",
						o.Customer, o.Amount, time.Now()).Scan(&o.OrderID); err != nil {
						return err
					}
					pub, err := wsql.NewPublisher(wsql.TxFromStdSQL(tx), wsql.PublisherConfig{SchemaAdapter: p.schema}, nil)
					if err != nil {
						return err
					}
					msg := message.NewMessage(watermill.NewUUID(), mustJSON(o))
					msg.SetContext(ctx)
					return pub.Publish(topic, msg)
				})
			})
		},
		check: func(ctx context.Context, n int) error {
			return expectStdCount(ctx, p.db, "SELECT count(*) FROM "+p.tables[topic][0], n)
		},
	}
}

// watermillDrain: n messages published up front, then one subscriber of
// one consumer group acks them as they come; the clock stops when the
// subscriber has closed, which commits its last offset.
func (b *bench) watermillDrain(name string) *contender {
	var p *watermillPeer
	topic := "drain_" + b.env.suffix
	return &contender{
		name: name,
		setup: func(ctx context.Context) error {
			var err error
			if p, err = b.watermill(ctx); err != nil {
				return err
			}
			return p.topic(topic)
		},
		prepare: func(ctx context.Context, n int) error {
			if err := p.truncate(ctx, topic); err != nil {
				return err
			}
			pub, err := wsql.NewPublisher(wsql.BeginnerFromStdSQL(p.db), wsql.PublisherConfig{SchemaAdapter: p.schema}, nil)
			if err != nil {
				return err
			}
			const chunk = 1000
			for lo := 0; lo < n; lo += chunk {
				msgs := make([]*message.Message, 0, chunk)
				for i := lo; i < min(lo+chunk, n); i++ {
					msgs = append(msgs, newWatermillMessage(i))
				}
				if err := pub.Publish(topic, msgs...); err != nil {
					return err
				}
			}
			if _, err := p.db.ExecContext(ctx, "ANALYZE "+p.tables[topic][0]); err != nil {
				return err
			}
			return pub.Close()
		},
		run: func(ctx context.Context, n int) error {
			sub, err := p.subscriber()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(ctx, drainTimeout)
			defer cancel()
			ch, err := sub.Subscribe(ctx, topic)
			if err != nil {
				return err
			}
			var acked atomic.Int64
			for acked.Load() < int64(n) {
				select {
				case msg, ok := <-ch:
					if !ok {
						return fmt.Errorf("subscription closed after %d of %d messages", acked.Load(), n)
					}
					msg.Ack()
					acked.Add(1)
				case <-ctx.Done():
					_ = sub.Close()
					return fmt.Errorf("acked %d of %d messages: %w", acked.Load(), n, ctx.Err())
				}
			}
			return sub.Close()
		},
		check: func(ctx context.Context, n int) error {
			t := p.tables[topic]
			var acked, last int64
			err := p.db.QueryRowContext(ctx, "SELECT (SELECT offset_acked FROM "+t[1]+" WHERE consumer_group = 'bench'), (SELECT max(\"offset\") FROM "+t[0]+")").Scan(&acked, &last)
			if err != nil {
				return err
			}
			if acked != last {
				return fmt.Errorf("watermill acked offset %d, last offset %d", acked, last)
			}
			return nil
		},
	}
}

func inStdTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func expectStdCount(ctx context.Context, db *sql.DB, query string, want int) error {
	var got int
	if err := db.QueryRowContext(ctx, query).Scan(&got); err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s: got %d, want %d", query, got, want)
	}
	return nil
}
