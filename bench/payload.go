package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// orderPlaced is the message every contender enqueues and drains: the same
// fields, marshalled to the same JSON.
type orderPlaced struct {
	OrderID  int64  `json:"order_id"`
	Customer string `json:"customer"`
	Amount   int64  `json:"amount"`
}

// Kind names the message for river; the others use it as message name or
// topic.
func (orderPlaced) Kind() string { return "order_placed" }

func newOrder(i int) orderPlaced {
	return orderPlaced{OrderID: int64(i), Customer: "customer-42", Amount: int64(1000 + i%97)}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// parallel runs fn for indexes 0..n-1 on workers goroutines and returns the
// first error. Each worker takes a contiguous share.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, worker, i int) error) error {
	workers = min(workers, n)
	errs := make(chan error, workers)
	for w := range workers {
		lo, hi := n*w/workers, n*(w+1)/workers
		go func() {
			for i := lo; i < hi; i++ {
				if err := fn(ctx, w, i); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range workers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// waitFor polls cond every interval until it is true, it fails, or timeout
// passes.
func waitFor(ctx context.Context, timeout, interval time.Duration, what string, cond func(ctx context.Context) (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond(ctx)
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
