package idempotency

import (
	"context"
	"strconv"
	"testing"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/dialect"
	"github.com/gormkit/gormkit/internal/testdb"
)

// benchSetup opens one backend with a business table and a store.
func benchSetup(b *testing.B, backend testdb.Backend) (*gormkit.DB, *Store, string) {
	db := testdb.Open(b, backend)
	tables := testdb.Migrate(b, db)
	orders := dialect.Name(db.Dialect).Quote(testdb.Table(b, db, "bench_orders"))
	if err := db.Gorm.Exec("CREATE TABLE " + orders + " (id varchar(64) PRIMARY KEY, note varchar(64) NOT NULL)").Error; err != nil {
		b.Fatal(err)
	}
	store, err := NewStore(db.Gorm, Config{Table: tables.Idempotency})
	if err != nil {
		b.Fatal(err)
	}
	return db, store, orders
}

// BenchmarkBareCommand is the baseline: the command's own write, no
// idempotency.
func BenchmarkBareCommand(b *testing.B) {
	for _, backend := range testdb.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			db, _, orders := benchSetup(b, backend)
			ctx := context.Background()
			i := 0
			for b.Loop() {
				i++
				if err := db.Gorm.WithContext(ctx).Exec("INSERT INTO "+orders+" (id, note) VALUES (?, ?)", strconv.Itoa(i), "placed").Error; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRun wraps the same write in Run: "new" reserves a fresh key,
// runs and completes (three statements besides the command); "replay"
// answers a retried key from the stored result (one upsert and one read).
func BenchmarkRun(b *testing.B) {
	for _, backend := range testdb.Backends() {
		b.Run(backend.Name+"/new", func(b *testing.B) {
			db, store, orders := benchSetup(b, backend)
			ctx := context.Background()
			i := 0
			for b.Loop() {
				i++
				id := strconv.Itoa(i)
				_, err := Run(ctx, store, Request{Namespace: "bench", Key: id, Fingerprint: "fp"}, func(ctx context.Context) (string, error) {
					return id, db.Gorm.WithContext(ctx).Exec("INSERT INTO "+orders+" (id, note) VALUES (?, ?)", id, "placed").Error
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(backend.Name+"/replay", func(b *testing.B) {
			db, store, orders := benchSetup(b, backend)
			ctx := context.Background()
			req := Request{Namespace: "bench", Key: "retried", Fingerprint: "fp"}
			for b.Loop() {
				_, err := Run(ctx, store, req, func(ctx context.Context) (string, error) {
					return "1", db.Gorm.WithContext(ctx).Exec("INSERT INTO "+orders+" (id, note) VALUES (?, ?)", "1", "placed").Error
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
