package idempotency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// finishTimeout bounds the Complete or Fail that Run and the middleware
// issue after the work is done, outside a transaction.
const finishTimeout = 30 * time.Second

// Run runs fn at most once per request key and returns its value, or the
// value stored by an earlier successful run (decoded from JSON into T)
// without calling fn.
//
// It reserves the key; on Acquired it calls fn, then stores the
// JSON-encoded value with Complete, or releases the key with Fail when fn
// returns an error or panics, so a retry runs again. Another attempt
// holding the key gives an error wrapping ErrInProgress; the key reused
// with a different fingerprint, ErrFingerprintMismatch.
//
// Inside a gormkit unit of work (ctx carries its transaction) or with a
// store from WithTx, the reservation, fn's writes on that transaction and
// the stored result commit or roll back together: a rollback leaves no
// record, and the command runs again on retry. Outside a transaction, the
// final Complete or Fail runs even when ctx was cancelled after fn
// returned, so a finished command is not lost to a client hanging up.
//
// If Complete fails (the lease ran out and another attempt took the key
// over), Run returns fn's value together with the error.
func Run[T any](ctx context.Context, s *Store, req Request, fn func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	r, err := s.Reserve(ctx, req)
	if err != nil {
		return zero, err
	}
	switch r.Outcome {
	case Replay:
		var v T
		if err := json.Unmarshal(r.Result, &v); err != nil {
			return zero, fmt.Errorf("idempotency: decode stored result of %s/%q into %T: %w", r.Namespace, r.Key, v, err)
		}
		return v, nil
	case InProgress:
		return zero, fmt.Errorf("%w: %s/%q is held until %s", ErrInProgress, r.Namespace, r.Key, r.LockedUntil.Format(time.RFC3339Nano))
	case FingerprintMismatch:
		return zero, fmt.Errorf("%w: %s/%q", ErrFingerprintMismatch, r.Namespace, r.Key)
	}

	finished := false
	defer func() {
		if !finished { // fn panicked: free the key, let the panic go on
			fctx, cancel := s.finishContext(ctx)
			_ = s.Fail(fctx, r)
			cancel()
		}
	}()
	v, fnErr := fn(ctx)
	var result []byte
	if fnErr == nil {
		result, fnErr = json.Marshal(v)
		if fnErr != nil {
			fnErr = fmt.Errorf("idempotency: encode result of %s/%q: %w", r.Namespace, r.Key, fnErr)
		}
	}
	finished = true
	fctx, cancel := s.finishContext(ctx)
	defer cancel()
	if fnErr != nil {
		if err := s.Fail(fctx, r); err != nil && !inTx(s.handle(ctx)) {
			// In a transaction the caller rolls back anyway (and on
			// PostgreSQL a failed statement has already aborted it), so
			// fn's error alone is the news.
			return zero, errors.Join(fnErr, err)
		}
		return zero, fnErr
	}
	if err := s.Complete(fctx, r, result); err != nil {
		return v, err
	}
	return v, nil
}

// finishContext is the context of the write that ends an attempt. Outside
// a transaction it survives ctx's cancellation; inside one it must be ctx,
// since the transaction ends with ctx anyway.
func (s *Store) finishContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if inTx(s.handle(ctx)) {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
}
