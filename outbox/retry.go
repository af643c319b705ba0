package outbox

import (
	"errors"
	"math"
	"math/rand/v2"
	"time"
)

// RetryPolicy decides when a failed message is tried again.
type RetryPolicy interface {
	// Delay returns how long after now the message becomes claimable again,
	// given the attempt that failed (1 for the first) and its error.
	Delay(attempt int, err error) time.Duration
}

// RetryPolicyFunc adapts a function to RetryPolicy.
type RetryPolicyFunc func(attempt int, err error) time.Duration

// Delay calls f.
func (f RetryPolicyFunc) Delay(attempt int, err error) time.Duration { return f(attempt, err) }

// ExponentialBackoff is the default RetryPolicy: Initial × Multiplier^(attempt-1),
// capped at Max, then spread by ±Jitter so failing messages do not retry
// in lockstep. The zero value takes the defaults.
type ExponentialBackoff struct {
	// Initial is the delay after the first failed attempt. Default 1s.
	Initial time.Duration
	// Max caps the delay, jitter included. Default 1h.
	Max time.Duration
	// Multiplier grows the delay per attempt. Default 2.
	Multiplier float64
	// Jitter is the fraction of the delay randomized: the delay is scaled
	// by a factor in [1-Jitter, 1+Jitter). Default 0.2; negative disables
	// jitter.
	Jitter float64
	// Rand returns a number in [0, 1) for the jitter; it must be safe for
	// concurrent use. Default math/rand/v2.Float64. Tests inject a fixed
	// source (returning 0.5 makes the jitter factor exactly 1).
	Rand func() float64
}

// Delay implements RetryPolicy.
func (b ExponentialBackoff) Delay(attempt int, _ error) time.Duration {
	initial, maxDelay, mult, jitter := b.Initial, b.Max, b.Multiplier, b.Jitter
	if initial <= 0 {
		initial = time.Second
	}
	if maxDelay <= 0 {
		maxDelay = time.Hour
	}
	if mult < 1 {
		mult = 2
	}
	if jitter == 0 {
		jitter = 0.2
	}
	attempt = max(attempt, 1)
	d := float64(initial) * math.Pow(mult, float64(attempt-1))
	d = math.Min(d, float64(maxDelay))
	if jitter > 0 {
		r := b.Rand
		if r == nil {
			r = rand.Float64
		}
		d *= 1 - jitter + 2*jitter*r()
	}
	return time.Duration(math.Min(d, float64(maxDelay)))
}

// Permanent marks err as permanent: the relay dead-letters the message at
// once instead of retrying it. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }
