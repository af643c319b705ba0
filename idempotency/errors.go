package idempotency

import (
	"errors"
	"fmt"
)

// Sentinel errors, for errors.Is.
var (
	// ErrInvalidRequest wraps every validation error: an empty or over-long
	// namespace, key or fingerprint, or a negative retention or lease. It is
	// returned before any SQL runs.
	ErrInvalidRequest = errors.New("idempotency: invalid request")
	// ErrInProgress is returned by Run when another attempt holds the key
	// and its lease has not run out. Retry later.
	ErrInProgress = errors.New("idempotency: request with this key is in progress")
	// ErrFingerprintMismatch is returned by Run when the key was used before
	// with a different fingerprint (a different request payload).
	ErrFingerprintMismatch = errors.New("idempotency: key reused with a different request fingerprint")
	// ErrReservationLost is wrapped by every *MutationError: the
	// reservation a Complete or Fail referred to is no longer the one in
	// the table.
	ErrReservationLost = errors.New("idempotency: reservation lost")
)

// Mutation actions named in a MutationError.
const (
	ActionComplete = "complete"
	ActionFail     = "fail"
)

// MutationError reports a Complete or Fail that found no matching
// in-progress reservation: it was never acquired, was already completed or
// released, or its lease ran out and another attempt took the key over. The
// store never turns this into a silent no-op. It wraps ErrReservationLost.
type MutationError struct {
	// Action is ActionComplete or ActionFail.
	Action string
	// Namespace, Key and ScopeKey identify the record.
	Namespace string
	Key       string
	ScopeKey  string
	// Reason says why, when the store knows before running SQL (for example
	// "reservation was not acquired"); empty when the compare-and-set matched
	// no row.
	Reason string
}

// Error implements error.
func (e *MutationError) Error() string {
	reason := e.Reason
	if reason == "" {
		reason = "no in-progress reservation with this token and fingerprint (completed, released, or taken over after its lease ran out)"
	}
	return fmt.Sprintf("idempotency: %s %s/%q scope %s: %s", e.Action, e.Namespace, e.Key, e.ScopeKey, reason)
}

// Unwrap returns ErrReservationLost.
func (e *MutationError) Unwrap() error { return ErrReservationLost }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidRequest}, args...)...)
}
