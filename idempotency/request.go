package idempotency

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gormkit/gormkit/models"
)

// Request identifies one idempotent command.
type Request struct {
	// Namespace separates kinds of commands ("orders.place", "http").
	// Required; at most models.MaxNamespaceLength bytes.
	Namespace string
	// Key is the client's idempotency key. Required; at most
	// models.MaxKeyLength bytes.
	Key string
	// Scope is who the key belongs to, e.g. {"tenant": "t1", "actor": "u7"}:
	// the same key in two scopes is two records. Nil means no scope. Order
	// never matters.
	Scope map[string]string
	// Fingerprint digests the command's payload; reusing a key with a
	// different fingerprint is FingerprintMismatch. Optional (empty matches
	// only empty); at most models.MaxFingerprintLength bytes. See
	// Fingerprint for a helper.
	Fingerprint string
	// Retention is how long a completed result is replayed, counted from
	// completion. Default Config.Retention.
	Retention time.Duration
	// Lease is how long an attempt holds the key before another caller may
	// take it over. Default Config.Lease.
	Lease time.Duration
}

// identity is a validated request's stored identity.
type identity struct {
	namespace, key, scopeKey, storageKey, fingerprint string
	retention, lease                                  time.Duration
}

// resolve validates r and fills in its defaults; it runs before any SQL.
func (r Request) resolve(cfg Config) (identity, error) {
	if err := checkText("namespace", r.Namespace, models.MaxNamespaceLength, true); err != nil {
		return identity{}, err
	}
	if err := checkText("key", r.Key, models.MaxKeyLength, true); err != nil {
		return identity{}, err
	}
	if err := checkText("fingerprint", r.Fingerprint, models.MaxFingerprintLength, false); err != nil {
		return identity{}, err
	}
	id := identity{namespace: r.Namespace, key: r.Key, fingerprint: r.Fingerprint, retention: r.Retention, lease: r.Lease}
	if id.retention < 0 || id.lease < 0 {
		return identity{}, invalid("retention and lease must not be negative")
	}
	if id.retention == 0 {
		id.retention = cfg.Retention
	}
	if id.lease == 0 {
		id.lease = cfg.Lease
	}
	id.scopeKey = ScopeKey(r.Scope)
	id.storageKey = storageKey(id.namespace, id.key, id.scopeKey)
	return id, nil
}

// checkText rejects values that the text columns cannot hold faithfully:
// too long (which MySQL in non-strict mode would truncate into another
// key), invalid UTF-8, or control characters.
func checkText(field, v string, max int, required bool) error {
	switch {
	case v == "" && required:
		return invalid("%s is empty", field)
	case len(v) > max:
		return invalid("%s is %d bytes, longer than the %d allowed", field, len(v), max)
	case !utf8.ValidString(v):
		return invalid("%s is not valid UTF-8", field)
	case strings.ContainsFunc(v, unicode.IsControl):
		return invalid("%s contains a control character", field)
	}
	return nil
}

// ScopeKey returns the canonical serialization of scope stored in the
// scope_key column: the entries sorted by key, written like a JSON object
// with every name and value quoted by strconv.QuoteToASCII, e.g.
// {"actor":"u7","tenant":"t1"}. It is stable (map order never matters) and
// injective (two different scopes never share a key, whatever bytes they
// hold), and its output is printable ASCII. A nil and an empty scope are
// the same scope, "{}".
func ScopeKey(scope map[string]string) string {
	names := make([]string, 0, len(scope))
	for k := range scope {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		// A quoted string ends at its first unescaped quote, so the
		// sequence can be read back unambiguously: the encoding is injective.
		b.WriteString(strconv.QuoteToASCII(k))
		b.WriteByte(':')
		b.WriteString(strconv.QuoteToASCII(scope[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// storageKey is the hex SHA-256 of the length-prefixed namespace, key and
// scope key: fixed width, so any key fits the primary key index on every
// dialect.
func storageKey(namespace, key, scopeKey string) string {
	h := sha256.New()
	writeParts(h, namespace, key, scopeKey)
	return hex.EncodeToString(h.Sum(nil))
}

// Fingerprint returns the hex SHA-256 of parts, each prefixed with its
// length so that ("ab", "c") and ("a", "bc") differ. Use it to digest a
// command's payload for Request.Fingerprint.
func Fingerprint(parts ...string) string {
	h := sha256.New()
	writeParts(h, parts...)
	return hex.EncodeToString(h.Sum(nil))
}

func writeParts(h hash.Hash, parts ...string) {
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
}
