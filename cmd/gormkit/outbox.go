package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/gormkit/gormkit/models"
	"github.com/gormkit/gormkit/outbox"
)

const outboxUsage = `usage: gormkit outbox <subcommand> [flags]

subcommands:
  stats                              counts by status and the oldest pending age
  list [-status S] [-limit N]        list messages, dead letters by default (-after ID pages on)
  requeue -id ID[,ID...] | -all      make dead letters pending again with fresh attempts
  purge [-older-than 168h]           delete delivered and dead-lettered messages older than this
  relay [-batch N] [-once]           deliver pending messages to a handler that only prints
                                     them: for demos and draining test data, not production

Every subcommand takes -url and -outbox-table.
`

// runOutbox runs "gormkit outbox <stats|list|requeue|purge|relay>".
func runOutbox(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, outboxUsage)
		return errors.New("outbox: no subcommand given")
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("outbox "+sub, flag.ContinueOnError)
	fs.SetOutput(out)
	var df dbFlags
	df.register(fs)
	var run func(ctx context.Context, ob *outbox.Outbox) error
	switch sub {
	case "stats":
		run = func(ctx context.Context, ob *outbox.Outbox) error { return outboxStats(ctx, ob, out) }
	case "list":
		status := fs.String("status", outbox.StatusDeadLettered, "status to list: pending, delivered or dead_lettered")
		limit := fs.Int("limit", 50, "most messages to list")
		after := fs.String("after", "", "list IDs after this one (the last ID of the previous page)")
		run = func(ctx context.Context, ob *outbox.Outbox) error {
			return outboxList(ctx, ob, out, outbox.ListOptions{Status: *status, Limit: *limit, After: *after})
		}
	case "requeue":
		var ids idList
		fs.Var(&ids, "id", "dead letter to requeue; repeat the flag or separate IDs with commas")
		all := fs.Bool("all", false, "requeue every dead letter")
		run = func(ctx context.Context, ob *outbox.Outbox) error { return outboxRequeue(ctx, ob, out, ids, *all) }
	case "purge":
		olderThan := fs.Duration("older-than", 168*time.Hour, "retention: purge messages finished longer ago than this")
		batch := fs.Int("batch", 1000, "rows deleted per statement")
		status := fs.String("status", "", "purge only delivered or dead_lettered (default both)")
		run = func(ctx context.Context, ob *outbox.Outbox) error {
			n, err := ob.Purge(ctx, outbox.PurgeOptions{OlderThan: *olderThan, BatchSize: *batch, Status: *status})
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "purged %d message(s) finished more than %v ago\n", n, *olderThan)
			return nil
		}
	case "relay":
		batch := fs.Int("batch", outbox.DefaultBatchSize, "messages claimed per batch")
		once := fs.Bool("once", false, "drain what is available and exit instead of running until interrupted")
		run = func(ctx context.Context, ob *outbox.Outbox) error { return outboxRelay(ctx, ob, out, *batch, *once) }
	case "help", "-h", "--help":
		fmt.Fprint(out, outboxUsage)
		return nil
	default:
		fmt.Fprint(out, outboxUsage)
		return fmt.Errorf("outbox: unknown subcommand %q", sub)
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("outbox %s: unexpected arguments %q", sub, fs.Args())
	}
	cfg := outbox.Config{Table: df.tables().Outbox}
	if cfg.Table != "" { // checked before connecting
		if err := models.ValidateTableName(cfg.Table); err != nil {
			return err
		}
	}
	db, err := df.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	ob, err := outbox.New(db.Gorm, cfg)
	if err != nil {
		return err
	}
	return run(ctx, ob)
}

// idList is a repeatable flag of comma-separated IDs.
type idList []string

func (l *idList) String() string { return strings.Join(*l, ",") }

func (l *idList) Set(v string) error {
	for _, id := range strings.Split(v, ",") {
		if id = strings.TrimSpace(id); id != "" {
			*l = append(*l, id)
		}
	}
	return nil
}

func outboxStats(ctx context.Context, ob *outbox.Outbox, out io.Writer) error {
	s, err := ob.Stats(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "STATUS\tCOUNT")
	fmt.Fprintf(w, "%s\t%d\n", outbox.StatusPending, s.Pending)
	fmt.Fprintf(w, "%s\t%d\n", outbox.StatusDelivered, s.Delivered)
	fmt.Fprintf(w, "%s\t%d\n", outbox.StatusDeadLettered, s.DeadLettered)
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "oldest pending age: %v\n", s.OldestPendingAge.Round(time.Millisecond))
	return nil
}

func outboxList(ctx context.Context, ob *outbox.Outbox, out io.Writer, opts outbox.ListOptions) error {
	msgs, err := ob.List(ctx, opts)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tKIND\tNAME\tSTATUS\tATTEMPTS\tAVAILABLE AT\tUPDATED AT\tLAST ERROR")
	for _, m := range msgs {
		lastErr := ""
		if m.LastError != nil {
			lastErr = clipLine(*m.LastError, 60)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", m.ID, m.Kind, m.Name, m.Status, m.Attempts, m.MaxAttempts,
			m.AvailableAt.UTC().Format(time.RFC3339), m.UpdatedAt.UTC().Format(time.RFC3339), lastErr)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d message(s)\n", len(msgs))
	if len(msgs) > 0 && len(msgs) == opts.Limit {
		fmt.Fprintf(out, "next page: -after %s\n", msgs[len(msgs)-1].ID)
	}
	return nil
}

// clipLine flattens s to one line of at most n runes.
func clipLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func outboxRequeue(ctx context.Context, ob *outbox.Outbox, out io.Writer, ids []string, all bool) error {
	var n int64
	var err error
	switch {
	case all && len(ids) > 0:
		return errors.New("outbox requeue: pass -id or -all, not both")
	case all:
		n, err = ob.RequeueAll(ctx)
	case len(ids) > 0:
		n, err = ob.Requeue(ctx, ids...)
	default:
		return errors.New("outbox requeue: pass -id ID (repeatable, or comma-separated) or -all")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "requeued %d message(s)\n", n)
	if !all && int(n) < len(ids) {
		fmt.Fprintf(out, "%d ID(s) were not dead letters and were left alone\n", len(ids)-int(n))
	}
	return nil
}

func outboxRelay(ctx context.Context, ob *outbox.Outbox, out io.Writer, batch int, once bool) error {
	var mu sync.Mutex
	printOnly := func(_ context.Context, m outbox.Message) error {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, "delivered %s %s %s attempt %d: %s\n", m.ID, m.Kind, m.Name, m.Attempt, clipLine(string(m.Payload), 80))
		return nil
	}
	relay, err := outbox.NewRelay(ob, outbox.RelayConfig{
		BatchSize: batch,
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Handlers: map[outbox.Route]outbox.HandlerFunc{
			{Kind: outbox.KindEvent, Name: outbox.AnyName}: printOnly,
			{Kind: outbox.KindJob, Name: outbox.AnyName}:   printOnly,
		},
	})
	if err != nil {
		return err
	}
	var c outbox.Counts
	if once {
		c, err = relay.DrainOnce(ctx)
	} else {
		fmt.Fprintf(out, "relaying %s until interrupted\n", ob.Table())
		err = relay.Run(ctx)
		c = relay.Totals()
	}
	fmt.Fprintf(out, "claimed %d, delivered %d, retried %d, dead-lettered %d, released %d, lost %d\n",
		c.Claimed, c.Delivered, c.Retried, c.DeadLettered, c.Released, c.Lost)
	return err
}
