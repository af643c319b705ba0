// Command bench compares gormkit with the tools users weigh it against —
// river (job queue), watermill-sql (SQL pub/sub used as an outbox) and
// hand-written SQL — measured in one run on the same databases.
//
// It starts no server: Postgres and MySQL/MariaDB parts run when
// POSTGRES_DB_URL and MYSQL_DB_URL are set (scripts/bench starts throwaway
// servers and sets them) and SQLite runs on temp files. Every table and
// schema it creates carries a per-process suffix and is dropped at the end.
//
//	go -C bench run .              # full run
//	go -C bench run . -quick       # smoke run with small counts
//	go -C bench run . -only drain -messages 20000 -cpuprofile /tmp/drain.pprof
//
// Each scenario prints a markdown table with the median of -runs timed runs
// (a warm-up run is excluded) and ratios against the scenario's baseline; the
// last line is a machine-readable summary of the headline ratios.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gormkit/gormkit"
)

// options are the command-line flags.
type options struct {
	runs       int
	messages   int // drain scenario
	mixOps     int // plugin overhead, per run
	enqueueOps int // transactional enqueue, per run
	idemOps    int // idempotency, per run
	workers    int // concurrent callers in the enqueue and idempotency scenarios
	drainLoops int // concurrent claim loops of gormkit and the hand-written drain
	only       map[string]bool
	quick      bool
	match      *regexp.Regexp
	dbs        map[gormkit.Dialect]bool // nil: every database
	cpuprofile string
	verbose    bool
}

var scenarioNames = []string{"plugin", "enqueue", "drain", "idempotency", "sqlite"}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&o.runs, "runs", 3, "timed runs per contender; the median is reported")
	fs.IntVar(&o.messages, "messages", 50000, "messages pre-inserted for the drain scenario")
	fs.IntVar(&o.mixOps, "mix-ops", 0, "create/query/update rounds per run in the plugin scenario (default 20000 on SQLite, 3000 on servers)")
	fs.IntVar(&o.enqueueOps, "enqueue-ops", 4000, "transactions per run in the enqueue scenarios")
	fs.IntVar(&o.idemOps, "idempotency-ops", 2000, "requests per run in the idempotency scenario")
	fs.IntVar(&o.workers, "workers", 4, "concurrent callers in the enqueue and idempotency scenarios")
	fs.IntVar(&o.drainLoops, "relays", 4, "concurrent claim loops (Relay.DrainOnce goroutines) of gormkit and the hand-written drain loop")
	only := fs.String("only", "", "comma-separated scenarios to run: "+strings.Join(scenarioNames, ","))
	fs.BoolVar(&o.quick, "quick", false, "smoke run: small counts and one timed run unless -runs is given")
	dbs := fs.String("db", "", "comma-separated databases to run: sqlite,postgres,mysql (default all that are configured)")
	match := fs.String("match", "", "run only contenders whose name matches this regexp (with -cpuprofile, to profile one of them)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.BoolVar(&o.verbose, "v", false, "print progress to stderr")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		if !set["runs"] {
			o.runs = 1
		}
		if !set["messages"] {
			o.messages = 2000
		}
		if !set["mix-ops"] {
			o.mixOps = 300
		}
		if !set["enqueue-ops"] {
			o.enqueueOps = 300
		}
		if !set["idempotency-ops"] {
			o.idemOps = 200
		}
	}
	if *match != "" {
		re, err := regexp.Compile(*match)
		if err != nil {
			return nil, fmt.Errorf("-match: %w", err)
		}
		o.match = re
	}
	if *dbs != "" {
		o.dbs = map[gormkit.Dialect]bool{}
		for _, s := range strings.Split(*dbs, ",") {
			d := gormkit.Dialect(strings.TrimSpace(s))
			if d != gormkit.SQLite && d != gormkit.Postgres && d != gormkit.MySQL {
				return nil, fmt.Errorf("-db: unknown database %q (want sqlite, postgres or mysql)", s)
			}
			o.dbs[d] = true
		}
	}
	if *only != "" {
		o.only = map[string]bool{}
		for _, s := range strings.Split(*only, ",") {
			s = strings.TrimSpace(s)
			if !slices.Contains(scenarioNames, s) {
				return nil, fmt.Errorf("-only: unknown scenario %q (want %s)", s, strings.Join(scenarioNames, ","))
			}
			o.only[s] = true
		}
	}
	if o.runs < 1 || o.messages < 1 || o.enqueueOps < 1 || o.idemOps < 1 || o.workers < 1 || o.drainLoops < 1 {
		return nil, fmt.Errorf("-runs, -messages, -enqueue-ops, -idempotency-ops, -workers and -relays must be positive")
	}
	return o, nil
}

func (o *options) wants(name string) bool { return o.only == nil || o.only[name] }

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o *options, out io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	env, err := newBenchEnv(ctx)
	defer func() {
		// Clean up even after an interrupt: a fresh context, bounded in time.
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if env != nil {
			if cerr := env.close(cctx); cerr != nil {
				fmt.Fprintln(os.Stderr, "bench: cleanup:", cerr)
			}
		}
	}()
	if err != nil {
		return err
	}

	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	b := &bench{o: o, env: env, out: out, riverState: &riverPeer{}, watermillState: &watermillPeer{},
		machine: fmt.Sprintf("%d cores (runtime.NumCPU), %s %s/%s", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)}
	fmt.Fprintf(out, "# gormkit bench\n\n%s. Runs per contender: %d (median reported, warm-up excluded).\n", b.machine, o.runs)
	fmt.Fprintf(out, "Postgres: %s. MySQL/MariaDB: %s.\n", orUnset(env.pgVersion, "POSTGRES_DB_URL"), orUnset(env.myVersion, "MYSQL_DB_URL"))

	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"plugin", b.pluginOverhead},
		{"enqueue", b.enqueue},
		{"drain", b.drain},
		{"idempotency", b.idempotency},
		{"sqlite", b.sqliteDrivers},
	}
	for _, s := range steps {
		if !o.wants(s.name) {
			continue
		}
		if err := s.fn(ctx); err != nil {
			fmt.Fprintf(out, "\n**%s failed:** %s\n", s.name, oneLine(err.Error()))
		}
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Fprintf(out, "\n%s\n", b.sum.String())
	return ctx.Err()
}

func orUnset(v, envVar string) string {
	if v == "" {
		return "not used (" + envVar + " unset)"
	}
	return v
}

// bench carries what every scenario needs.
type bench struct {
	o       *options
	env     *benchEnv
	out     io.Writer
	machine string
	sum     summary

	riverState     *riverPeer
	watermillState *watermillPeer
}

func (b *bench) logf(format string, args ...any) {
	if b.o.verbose {
		fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	}
}

// contender is one thing measured in a table. prepare runs untimed before
// every run (including the warm-up), run is timed, check runs untimed after
// it and may reject the run.
type contender struct {
	name     string
	skip     string
	setup    func(ctx context.Context) error
	prepare  func(ctx context.Context, n int) error
	run      func(ctx context.Context, n int) error
	check    func(ctx context.Context, n int) error
	teardown func(ctx context.Context) error
	// note is called after the runs; its text goes in the notes column.
	note func() string
}

// measure runs every contender once untimed with warm operations, then
// runs timed rounds of n operations, rotating the order each round so that
// drift in a busy machine spreads over all contenders, and records seconds
// per operation in t.
func (b *bench) measure(ctx context.Context, t *table, n, warm int, cs ...*contender) {
	rows := make([]*row, len(cs))
	live := make([]bool, len(cs))
	for i, c := range cs {
		rows[i] = t.add(c.name)
		if c.skip == "" && b.o.match != nil && !b.o.match.MatchString(c.name) {
			c.skip = "not selected by -match"
		}
		if c.skip != "" {
			rows[i].skip = c.skip
			continue
		}
		live[i] = true
		if c.setup != nil {
			if err := c.setup(ctx); err != nil {
				rows[i].err, live[i] = fmt.Errorf("setup: %w", err), false
			}
		}
	}
	once := func(i, n int) (time.Duration, error) {
		c := cs[i]
		if c.prepare != nil {
			if err := c.prepare(ctx, n); err != nil {
				return 0, fmt.Errorf("prepare: %w", err)
			}
		}
		start := time.Now()
		if err := c.run(ctx, n); err != nil {
			return 0, err
		}
		d := time.Since(start)
		if c.check != nil {
			if err := c.check(ctx, n); err != nil {
				return 0, fmt.Errorf("check: %w", err)
			}
		}
		return d, nil
	}
	for round := -1; round < b.o.runs; round++ {
		for k := range cs {
			i := (k + max(round, 0)) % len(cs)
			if !live[i] || ctx.Err() != nil {
				continue
			}
			size := n
			if round < 0 {
				size = warm
			}
			b.logf("%s: %s round %d (%d ops)", t.title, cs[i].name, round, size)
			d, err := once(i, size)
			if err != nil {
				rows[i].err, live[i] = err, false
				continue
			}
			if round >= 0 {
				rows[i].samples = append(rows[i].samples, d.Seconds()/float64(n))
			}
		}
	}
	for i, c := range cs {
		if c.note != nil && rows[i].err == nil && rows[i].skip == "" {
			rows[i].note = c.note()
		}
		if c.teardown != nil && c.skip == "" {
			if err := c.teardown(ctx); err != nil && rows[i].err == nil {
				rows[i].err = fmt.Errorf("teardown: %w", err)
			}
		}
	}
	if ctx.Err() != nil {
		t.notes = append(t.notes, "Interrupted: "+ctx.Err().Error())
	}
}

// print writes t to the output.
func (b *bench) print(t *table) { t.write(b.out, b.machine) }
