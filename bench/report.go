package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// metric says how a row's samples read: a cost (time per operation, lower
// is better) or a rate (operations per second, higher is better). Samples
// are always stored as seconds per operation; rates are derived.
type metric int

const (
	cost metric = iota
	rate
)

// row is one contender's result in a table.
type row struct {
	name    string
	samples []float64 // seconds per operation, one per timed run
	err     error
	skip    string // why the row did not run
	note    string // e.g. statements per request
}

func (r *row) median() float64 {
	if len(r.samples) == 0 {
		return math.NaN()
	}
	s := slices.Clone(r.samples)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// table is one markdown table: one scenario on one database.
type table struct {
	title  string
	env    string   // database and version line
	metric metric   // how ratios read
	refs   []string // row names that get a "× name" column; refs[0] is the baseline
	rows   []*row
	notes  []string
}

func (t *table) add(name string) *row {
	r := &row{name: name}
	t.rows = append(t.rows, r)
	return r
}

func (t *table) find(name string) *row {
	for _, r := range t.rows {
		if r.name == name {
			return r
		}
	}
	return nil
}

// ratio is the row's median against ref's, oriented so that for a cost
// table it is cost / ref cost and for a rate table rate / ref rate.
func (t *table) ratio(name, ref string) float64 {
	a, b := t.find(name), t.find(ref)
	if a == nil || b == nil {
		return math.NaN()
	}
	x, y := a.median(), b.median()
	if t.metric == rate {
		return y / x
	}
	return x / y
}

func (t *table) write(w io.Writer, machine string) {
	fmt.Fprintf(w, "\n### %s\n\n", t.title)
	fmt.Fprintf(w, "%s; %s\n\n", machine, t.env)
	head := []string{"contender", "per op", "ops/s"}
	for i, ref := range t.refs {
		if i == 0 {
			head = append(head, "× baseline ("+ref+")")
		} else {
			head = append(head, "× "+ref)
		}
	}
	head = append(head, "runs (min–max per op)", "notes")
	fmt.Fprintf(w, "| %s |\n", strings.Join(head, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(head)))
	for _, r := range t.rows {
		cells := []string{r.name}
		if r.skip != "" || r.err != nil {
			status, why := "skipped", r.skip
			if r.err != nil {
				status, why = "failed", r.err.Error()
			}
			cells = append(cells, status)
			for len(cells) < len(head)-1 {
				cells = append(cells, "")
			}
			cells = append(cells, oneLine(why))
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
			continue
		}
		m := r.median()
		cells = append(cells, formatDuration(m), formatRate(1/m))
		for _, ref := range t.refs {
			cells = append(cells, formatRatio(t.ratio(r.name, ref)))
		}
		lo, hi := slices.Min(r.samples), slices.Max(r.samples)
		cells = append(cells, fmt.Sprintf("%d (%s–%s)", len(r.samples), formatDuration(lo), formatDuration(hi)), r.note)
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	for _, n := range t.notes {
		fmt.Fprintf(w, "\n%s\n", n)
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func formatDuration(sec float64) string {
	if math.IsNaN(sec) || math.IsInf(sec, 0) {
		return "–"
	}
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d < 10*time.Microsecond:
		return fmt.Sprintf("%.2fµs", sec*1e6)
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", sec*1e6)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", sec*1e3)
	}
	return fmt.Sprintf("%.2fs", sec)
}

func formatRate(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "–"
	}
	return fmt.Sprintf("%.0f", r)
}

func formatRatio(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	return fmt.Sprintf("%.2f", x)
}

// summary collects the ratios printed on the last line, in insertion order.
type summary struct {
	keys []string
	vals map[string]float64
}

func (s *summary) set(key string, v float64) {
	if s.vals == nil {
		s.vals = map[string]float64{}
	}
	if _, ok := s.vals[key]; !ok {
		s.keys = append(s.keys, key)
	}
	s.vals[key] = v
}

func (s *summary) String() string {
	parts := []string{"summary:"}
	for _, k := range s.keys {
		v := s.vals[k]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			parts = append(parts, k+"=na")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%.2f", k, v))
	}
	if len(s.keys) == 0 {
		parts = append(parts, "none")
	}
	return strings.Join(parts, " ")
}
