package main

import (
	"context"
	"errors"
	"io"
)

// runIdempotency runs "gormkit idempotency purge".
func runIdempotency(ctx context.Context, args []string, out io.Writer) error {
	return errors.New("idempotency commands are not built yet")
}
