package idempotency_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/idempotency"
)

// openDemoDB opens an in-memory SQLite database with gormkit's tables.
func openDemoDB(ctx context.Context) (*gormkit.DB, *idempotency.Store) {
	db, err := gormkit.Open(ctx, gormkit.Config{URL: ":memory:"})
	if err != nil {
		panic(err)
	}
	if err := gormkit.AutoMigrate(db.Gorm, gormkit.TableNames{}); err != nil {
		panic(err)
	}
	store, err := idempotency.NewStore(db.Gorm, idempotency.Config{})
	if err != nil {
		panic(err)
	}
	return db, store
}

type Receipt struct {
	ChargeID string `json:"charge_id"`
	Amount   int    `json:"amount"`
}

// A client retries a charge three times with one idempotency key: the card
// is charged once and every attempt gets the same receipt.
func ExampleRun() {
	ctx := context.Background()
	db, store := openDemoDB(ctx)
	defer db.Close()

	req := idempotency.Request{
		Namespace:   "payments.charge",
		Key:         "7f9c0a4e-retry-me",
		Scope:       map[string]string{"tenant": "acme"},
		Fingerprint: idempotency.Fingerprint("card_123", "4200", "EUR"),
	}
	charge := func(ctx context.Context) (Receipt, error) {
		fmt.Println("charging card_123")
		return Receipt{ChargeID: "ch_1", Amount: 4200}, nil
	}
	for attempt := 1; attempt <= 3; attempt++ {
		receipt, err := idempotency.Run(ctx, store, req, charge)
		if err != nil {
			panic(err)
		}
		fmt.Printf("attempt %d: %s %d\n", attempt, receipt.ChargeID, receipt.Amount)
	}

	// The same key for a different charge is refused.
	req.Fingerprint = idempotency.Fingerprint("card_123", "9900", "EUR")
	_, err := idempotency.Run(ctx, store, req, charge)
	fmt.Println(err != nil && strings.Contains(err.Error(), "different request fingerprint"))
	// Output:
	// charging card_123
	// attempt 1: ch_1 4200
	// attempt 2: ch_1 4200
	// attempt 3: ch_1 4200
	// true
}

// Inside a unit of work the reservation, the business write and the stored
// result commit together; Run finds the transaction in ctx.
func ExampleRun_unitOfWork() {
	ctx := context.Background()
	db, store := openDemoDB(ctx)
	defer db.Close()
	if err := db.Gorm.Exec("CREATE TABLE orders (id integer PRIMARY KEY, item text NOT NULL)").Error; err != nil {
		panic(err)
	}
	uow := gormkit.NewUnitOfWork(db.Gorm, func(tx *gorm.DB, _ gormkit.EventRecorder) *gorm.DB { return tx })

	place := func(ctx context.Context) (int, error) {
		return gormkit.Transact(ctx, uow, func(ctx context.Context, tx *gorm.DB) (int, error) {
			return idempotency.Run(ctx, store, idempotency.Request{Namespace: "orders.place", Key: "order-1"},
				func(ctx context.Context) (int, error) {
					fmt.Println("placing order")
					return 1, tx.Exec("INSERT INTO orders (id, item) VALUES (?, ?)", 1, "book").Error
				})
		})
	}
	for range 2 {
		id, err := place(ctx)
		fmt.Println("order", id, err)
	}
	var n int64
	db.Gorm.Table("orders").Count(&n)
	fmt.Println("rows:", n)
	// Output:
	// placing order
	// order 1 <nil>
	// order 1 <nil>
	// rows: 1
}

// The middleware stores the first response to a key and replays it to a
// retry, marked Idempotency-Replayed; the Set-Cookie header is not replayed.
func ExampleMiddleware() {
	ctx := context.Background()
	db, store := openDemoDB(ctx)
	defer db.Close()

	mw, err := idempotency.NewMiddleware(store, idempotency.HTTPConfig{
		// Each tenant has its own key space.
		Scope: func(r *http.Request) map[string]string { return map[string]string{"tenant": r.Header.Get("X-Tenant")} },
	})
	if err != nil {
		panic(err)
	}
	created := 0
	srv := httptest.NewServer(mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		created++
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", "/orders/1")
		w.Header().Set("Set-Cookie", "session=abc")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"order":1,"created":%d}`, created)
	})))
	defer srv.Close()

	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/orders", strings.NewReader(`{"item":"book"}`))
		req.Header.Set("Idempotency-Key", `"8e03978e-40d5-43e8-bc93-6894a57f9324"`)
		req.Header.Set("X-Tenant", "acme")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Printf("%d replayed=%q location=%s cookie=%q %s\n", res.StatusCode, res.Header.Get("Idempotency-Replayed"),
			res.Header.Get("Location"), res.Header.Get("Set-Cookie"), body)
	}
	// Output:
	// 201 replayed="" location=/orders/1 cookie="session=abc" {"order":1,"created":1}
	// 201 replayed="true" location=/orders/1 cookie="" {"order":1,"created":1}
}
