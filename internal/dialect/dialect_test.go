package dialect

import "testing"

func TestNativePlaceholders(t *testing.T) {
	q := "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
	if got, want := Postgres.NativePlaceholders(q), "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"; got != want {
		t.Fatalf("postgres: got %q, want %q", got, want)
	}
	for _, n := range []Name{SQLite, MySQL} {
		if got := n.NativePlaceholders(q); got != q {
			t.Fatalf("%s: got %q, want it unchanged", n, got)
		}
	}
	if got := Postgres.NativePlaceholders("SELECT 1"); got != "SELECT 1" {
		t.Fatalf("no placeholders: got %q", got)
	}
}
