package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gormkit/gormkit/idempotency"
	"github.com/gormkit/gormkit/models"
)

const idempotencyUsage = `usage: gormkit idempotency <command> [flags]

commands:
  purge    delete idempotency records whose retention has expired, in batches

Run "gormkit idempotency purge -h" for flags.
`

// runIdempotency runs "gormkit idempotency purge".
func runIdempotency(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, idempotencyUsage)
		return errors.New("idempotency: no command given")
	}
	switch args[0] {
	case "purge":
		return runIdempotencyPurge(ctx, args[1:], out)
	case "help", "-h", "--help":
		fmt.Fprint(out, idempotencyUsage)
		return nil
	}
	fmt.Fprint(out, idempotencyUsage)
	return fmt.Errorf("idempotency: unknown command %q", args[0])
}

func runIdempotencyPurge(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("idempotency purge", flag.ContinueOnError)
	var df dbFlags
	df.register(fs)
	batch := fs.Int("batch", idempotency.DefaultPurgeBatch, "records deleted per statement")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("idempotency purge: unexpected arguments %q", fs.Args())
	}
	if *batch <= 0 {
		return fmt.Errorf("idempotency purge: -batch must be positive, got %d", *batch)
	}
	table := df.idempotency
	if table == "" {
		table = models.DefaultIdempotencyTable
	}
	if err := models.ValidateTableName(table); err != nil { // before connecting
		return err
	}
	db, err := df.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := idempotency.NewStore(db.Gorm, idempotency.Config{Table: table})
	if err != nil {
		return err
	}
	n, err := store.Purge(ctx, *batch)
	if err != nil {
		return fmt.Errorf("%w (purged %d before the error)", err, n)
	}
	fmt.Fprintf(out, "purged %d expired idempotency records from %s\n", n, table)
	return nil
}
