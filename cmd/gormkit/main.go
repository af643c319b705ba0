// Command gormkit migrates, inspects and maintains gormkit's tables, and
// runs a demo on embedded SQLite.
//
//	gormkit demo                         run the demo on a temporary SQLite file
//	gormkit migrate                      create or update the outbox and idempotency tables
//	gormkit ddl -dialect postgres        print the DDL for your own migrations
//	gormkit outbox stats|list|requeue|purge|relay
//	gormkit idempotency purge
//
// Commands that touch a database read its URL from -url, or from
// SQLITE_DB_URL, POSTGRES_DB_URL or MYSQL_DB_URL (the one that is set).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gormkit/gormkit"
)

const usage = `usage: gormkit <command> [flags]

commands:
  demo                                   run the demo on a temporary SQLite file
  migrate                                create or update gormkit's tables
  ddl -dialect sqlite|postgres|mysql     print the DDL for your own migrations
  outbox stats|list|requeue|purge|relay  inspect and maintain the outbox
  idempotency purge                      delete expired idempotency records

Database commands take -url, or read SQLITE_DB_URL, POSTGRES_DB_URL or
MYSQL_DB_URL (exactly one must be set). Run "gormkit <command> -h" for flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gormkit:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "demo":
		return runDemo(ctx, rest, out)
	case "migrate":
		return runMigrate(ctx, rest, out)
	case "ddl":
		return runDDL(rest, out)
	case "outbox":
		return runOutbox(ctx, rest, out)
	case "idempotency":
		return runIdempotency(ctx, rest, out)
	case "help", "-h", "--help":
		fmt.Fprint(out, usage)
		return nil
	}
	fmt.Fprint(out, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// dbFlags are the flags every database command shares.
type dbFlags struct {
	url         string
	outbox      string
	idempotency string
}

func (f *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", "", "database URL (default: the one of SQLITE_DB_URL, POSTGRES_DB_URL, MYSQL_DB_URL that is set)")
	fs.StringVar(&f.outbox, "outbox-table", "", "outbox table name (default outbox_messages)")
	fs.StringVar(&f.idempotency, "idempotency-table", "", "idempotency table name (default idempotency_records)")
}

func (f *dbFlags) tables() gormkit.TableNames {
	return gormkit.TableNames{Outbox: f.outbox, Idempotency: f.idempotency}
}

// open opens the database named by -url or by the one env var that is set.
func (f *dbFlags) open(ctx context.Context) (*gormkit.DB, error) {
	if f.url != "" {
		return gormkit.Open(ctx, gormkit.Config{URL: f.url})
	}
	var set []gormkit.Dialect
	for _, d := range []gormkit.Dialect{gormkit.SQLite, gormkit.Postgres, gormkit.MySQL} {
		if os.Getenv(gormkit.EnvVar(d)) != "" {
			set = append(set, d)
		}
	}
	switch len(set) {
	case 0:
		return nil, errors.New("no database: pass -url or set SQLITE_DB_URL, POSTGRES_DB_URL or MYSQL_DB_URL")
	case 1:
		return gormkit.OpenFromEnv(ctx, set[0])
	}
	return nil, fmt.Errorf("more than one of SQLITE_DB_URL, POSTGRES_DB_URL, MYSQL_DB_URL is set (%v): pass -url to choose", set)
}

func runMigrate(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	var df dbFlags
	df.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := df.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := gormkit.AutoMigrate(db.Gorm.WithContext(ctx), df.tables()); err != nil {
		return err
	}
	fmt.Fprintf(out, "migrated gormkit tables on %s\n", db.Dialect)
	return nil
}

func runDDL(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("ddl", flag.ContinueOnError)
	var df dbFlags
	df.register(fs)
	d := fs.String("dialect", "", "sqlite, postgres or mysql (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stmts, err := gormkit.SetupStatements(gormkit.Dialect(*d), df.tables())
	if err != nil {
		return err
	}
	for _, s := range stmts {
		fmt.Fprintf(out, "%s;\n\n", s)
	}
	return nil
}
