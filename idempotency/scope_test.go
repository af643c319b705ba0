package idempotency

import (
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// parseScopeKey inverts ScopeKey; that it exists and round-trips is what
// makes the encoding injective.
func parseScopeKey(s string) (map[string]string, bool) {
	out := map[string]string{}
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil, false
	}
	s = s[1 : len(s)-1]
	next := func() (string, bool) {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", false
		}
		s = s[len(q):]
		v, err := strconv.Unquote(q)
		return v, err == nil
	}
	for first := true; s != ""; first = false {
		if !first {
			if s[0] != ',' {
				return nil, false
			}
			s = s[1:]
		}
		k, ok := next()
		if !ok || !strings.HasPrefix(s, ":") {
			return nil, false
		}
		s = s[1:]
		v, ok := next()
		if !ok {
			return nil, false
		}
		if _, dup := out[k]; dup {
			return nil, false
		}
		out[k] = v
	}
	return out, true
}

func TestScopeKey(t *testing.T) {
	require.Equal(t, "{}", ScopeKey(nil))
	require.Equal(t, "{}", ScopeKey(map[string]string{}))
	require.Equal(t, `{"actor":"u7","tenant":"t1"}`, ScopeKey(map[string]string{"tenant": "t1", "actor": "u7"}))
	require.Equal(t, `{"a\",\"b":"c"}`, ScopeKey(map[string]string{`a","b`: "c"}))
	require.NotEqual(t, ScopeKey(map[string]string{`a","b`: "c"}), ScopeKey(map[string]string{"a": "", "b": "c"}))
	require.Equal(t, `{"caf\u00e9":"\xff"}`, ScopeKey(map[string]string{"café": "\xff"}))
	require.NotEqual(t, ScopeKey(map[string]string{"k": "\xff"}), ScopeKey(map[string]string{"k": "\ufffd"}))
}

func TestStorageKeyIsLengthPrefixed(t *testing.T) {
	require.NotEqual(t, storageKey("ab", "c", "{}"), storageKey("a", "bc", "{}"))
	require.NotEqual(t, storageKey("a", "b{}", ""), storageKey("a", "b", "{}"))
	require.Len(t, storageKey("n", strings.Repeat("k", 255), "{}"), 64)
	require.NotEqual(t, Fingerprint("ab", "c"), Fingerprint("a", "bc"))
}

func FuzzScopeKey(f *testing.F) {
	seeds := [][6]string{
		{"tenant", "t1", "actor", "u7", "tenant", "t2"},
		{"a", "", "b", "c", `a","b`, "c"},
		{"", "", ":", ",", "}", "{"},
		{"k", "\xff", "k", "\ufffd", `\`, `"`},
		{"k\x00", "v", "k", "\x00v", "é", "e\u0301"},
		{"same", "v", "same", "v", "same", "v"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5])
	}
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		a := map[string]string{k1: v1, k2: v2}
		reversed := map[string]string{}
		reversed[k2] = v2
		reversed[k1] = v1 // when k1 == k2 the later write wins in both maps
		if k1 == k2 {
			reversed = maps.Clone(a)
		}
		key := ScopeKey(a)
		if ScopeKey(reversed) != key {
			t.Fatalf("not stable across insertion order: %q vs %q", key, ScopeKey(reversed))
		}
		for i := 0; i < len(key); i++ {
			if key[i] < 0x20 || key[i] > 0x7e {
				t.Fatalf("non-printable byte in %q", key)
			}
		}
		back, ok := parseScopeKey(key)
		if !ok || !maps.Equal(back, a) {
			t.Fatalf("ScopeKey(%q) = %q does not read back (got %q)", a, key, back)
		}

		for _, b := range []map[string]string{{k3: v3}, {k1: v1, k3: v3}, {k1: v3, k2: v2}, {k1 + k2: v1 + v2}} {
			if maps.Equal(a, b) != (ScopeKey(a) == ScopeKey(b)) {
				t.Fatalf("scopes %q and %q: equal %v but keys %q and %q", a, b, maps.Equal(a, b), ScopeKey(a), ScopeKey(b))
			}
			if !maps.Equal(a, b) && storageKey("n", "k", ScopeKey(a)) == storageKey("n", "k", ScopeKey(b)) {
				t.Fatalf("scopes %q and %q share a storage key", a, b)
			}
		}
	})
}
