package main

import (
	"context"
	"errors"
	"io"
)

// runOutbox runs "gormkit outbox <stats|list|requeue|purge|relay>".
func runOutbox(ctx context.Context, args []string, out io.Writer) error {
	return errors.New("outbox commands are not built yet")
}
