package idempotency

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gormkit/gormkit/models"
)

// HeaderKey is the request header carrying the idempotency key
// (draft-ietf-httpapi-idempotency-key-header).
const HeaderKey = "Idempotency-Key"

// HeaderReplayed is set to "true" on a replayed response.
const HeaderReplayed = "Idempotency-Replayed"

// Errors the middleware hands to HTTPConfig.OnError, for errors.Is.
var (
	// ErrMissingKey: the method requires an Idempotency-Key header and the
	// request has none (400).
	ErrMissingKey = errors.New("idempotency: Idempotency-Key header is required")
	// ErrMalformedKey: the header is empty, repeated, too long, or not a
	// structured-field string or plain token (400).
	ErrMalformedKey = errors.New("idempotency: malformed Idempotency-Key header")
	// ErrRequestTooLarge: the body exceeds HTTPConfig.MaxRequestBytes, so it
	// cannot be fingerprinted (413).
	ErrRequestTooLarge = errors.New("idempotency: request body too large to fingerprint")
	// ErrStoreUnavailable: the reservation failed for a reason other than
	// the request (503).
	ErrStoreUnavailable = errors.New("idempotency: store unavailable")
)

// ParseKey parses an Idempotency-Key header value. The draft defines the
// key as a structured-field string, `"8e03978e-40d5-43e8-bc93-6894a57f9324"`;
// a plain token without quotes (printable ASCII with no space, quote,
// backslash, comma or semicolon) is accepted too. Surrounding spaces are
// ignored. Errors, wrapping ErrMalformedKey, cover an empty key, one longer
// than models.MaxKeyLength, control or non-ASCII characters, bad escapes,
// and parameters or list members after the string.
func ParseKey(value string) (string, error) {
	v := strings.Trim(value, " \t")
	fail := func(why string) (string, error) { return "", fmt.Errorf("%w: %s", ErrMalformedKey, why) }
	if v == "" {
		return fail("empty")
	}
	var key string
	if v[0] == '"' {
		var b strings.Builder
		i := 1
		for ; i < len(v); i++ {
			c := v[i]
			if c == '\\' {
				i++
				if i == len(v) || (v[i] != '"' && v[i] != '\\') {
					return fail(`only \" and \\ may be escaped`)
				}
				b.WriteByte(v[i])
				continue
			}
			if c == '"' {
				break
			}
			if c < 0x20 || c > 0x7e {
				return fail("control or non-ASCII character")
			}
			b.WriteByte(c)
		}
		if i >= len(v) {
			return fail("unterminated string")
		}
		if i != len(v)-1 {
			return fail("unexpected characters after the string (parameters and lists are not allowed)")
		}
		key = b.String()
	} else {
		for i := 0; i < len(v); i++ {
			c := v[i]
			if c <= 0x20 || c > 0x7e || c == '"' || c == '\\' || c == ',' || c == ';' {
				return fail("not a quoted string or plain token")
			}
		}
		key = v
	}
	if key == "" {
		return fail("empty")
	}
	if len(key) > models.MaxKeyLength {
		return fail(fmt.Sprintf("longer than %d characters", models.MaxKeyLength))
	}
	return key, nil
}
