package outbox

import (
	"testing"
	"time"
)

// parseSQLiteTime's fast path agrees with time.Parse on the layouts SQLite
// drivers write, and leaves everything else to it.
func TestParseSQLiteTime(t *testing.T) {
	for _, s := range []string{
		"2026-03-01 12:34:56.123456+00:00",
		"2026-03-01 12:34:56+00:00",
		"2026-03-01T12:34:56.1+02:00",
		"2026-03-01 00:00:00.000000001-07:30",
		"2026-03-01 12:34:56.123456789Z",
		"2026-03-01T12:34:56.5",
		"2026-03-01 12:34:56",
		"2024-02-29 23:59:59.999999+00:00",
		"0001-01-01 00:00:00+00:00",
	} {
		got, err := parseSQLiteTime(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if _, ok := parseTimeFast(s); !ok {
			t.Errorf("%s: not parsed by the fast path", s)
		}
		var want time.Time
		for _, layout := range sqliteTimeLayouts {
			if w, err := time.Parse(layout, s); err == nil {
				want = w.UTC()
				break
			}
		}
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%s: got %v, want %v", s, got, want)
		}
	}
	for _, s := range []string{
		"", "2026-03-01", "2026-02-30 00:00:00+00:00", "2026-13-01 00:00:00", "2026-03-01 24:00:00",
		"2026-03-01 12:34:56.", "2026-03-01 12:34:56.1234567890", "2026-03-01 12:34:56+0000", "2026-03-01 12:34:56 UTC",
		"2026-0a-01 12:34:56", "2026-03-01 12:34:56+0a:00",
	} {
		if _, ok := parseTimeFast(s); ok {
			t.Errorf("%q: accepted by the fast path", s)
		}
	}
	if _, err := parseSQLiteTime("not a time"); err == nil {
		t.Error("parsed a non-time")
	}
}
