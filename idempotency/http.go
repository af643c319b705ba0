package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gormkit/gormkit/models"
)

// HTTPConfig configures the net/http middleware. The zero value, with a
// store, follows draft-ietf-httpapi-idempotency-key-header.
type HTTPConfig struct {
	// Namespace of the records the middleware writes. Default "http".
	Namespace string
	// Methods whose requests are idempotent by key. Requests with other
	// methods pass through untouched. Default POST and PATCH.
	Methods []string
	// Optional lets a request of one of Methods without an Idempotency-Key
	// header through, without idempotency. Default false: 400.
	Optional bool
	// Scope returns whose key space the request uses, such as the tenant
	// and the authenticated actor, so that two clients choosing the same
	// key never see each other's responses. Default nil: one key space
	// for every client, which is only right when keys are unguessable and
	// responses not private.
	Scope func(r *http.Request) map[string]string
	// Fingerprint digests the request; a key reused with another digest
	// is answered 422. It gets the buffered body (the handler still reads
	// it from r.Body); a result longer than models.MaxFingerprintLength
	// bytes is hashed with Fingerprint. Default DefaultHTTPFingerprint: method, path and query, and a
	// SHA-256 of the body.
	Fingerprint func(r *http.Request, body []byte) string
	// ReplayHeaders are response headers stored and replayed besides
	// Content-Type and Location, which always are. Set-Cookie and
	// Authorization are never stored, even when listed. Default none.
	ReplayHeaders []string
	// MaxRequestBytes is the largest request body read for the
	// fingerprint; larger requests get 413. Default 1 MiB.
	MaxRequestBytes int64
	// MaxResponseBytes is the largest response body stored. A larger
	// response is sent as usual but not stored, and the key is released so
	// a retry runs again. Default 1 MiB.
	MaxResponseBytes int64
	// Retention is how long a stored response is replayed. Default the
	// store's Config.Retention.
	Retention time.Duration
	// Lease is how long a request holds its key; a request still running
	// when it ends can be run a second time by a retry, so set it above the
	// slowest handler. Default the store's Config.Lease.
	Lease time.Duration
	// OnError writes the middleware's own error responses: 400
	// (ErrMissingKey, ErrMalformedKey), 409 (ErrInProgress; Retry-After is
	// already set), 413 (ErrRequestTooLarge), 422 (ErrFingerprintMismatch)
	// and 503 (ErrStoreUnavailable). Default: an application/problem+json
	// body (RFC 9457).
	OnError func(w http.ResponseWriter, r *http.Request, status int, err error)
	// Logger receives errors that happen after the response was sent, such
	// as a failed Complete. Default slog.Default().
	Logger *slog.Logger
}

// Default sizes of HTTPConfig.
const (
	DefaultMaxRequestBytes  = 1 << 20
	DefaultMaxResponseBytes = 1 << 20
)

// neverReplayed are headers that carry credentials or session state of
// the first client: a replay must not hand them to whoever sends the key.
var neverReplayed = []string{"Set-Cookie", "Set-Cookie2", "Authorization", "Proxy-Authorization"}

// Middleware makes unsafe HTTP requests idempotent by their
// Idempotency-Key header. Build it with NewMiddleware and wrap handlers with
// Handler.
type Middleware struct {
	store   *Store
	cfg     HTTPConfig
	methods map[string]bool
	replay  map[string]bool // canonical header names
}

// NewMiddleware returns the middleware storing responses in store.
func NewMiddleware(store *Store, cfg HTTPConfig) (*Middleware, error) {
	if store == nil {
		return nil, errors.New("idempotency: NewMiddleware needs a store")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "http"
	}
	if err := checkText("namespace", cfg.Namespace, models.MaxNamespaceLength, true); err != nil {
		return nil, err
	}
	if cfg.Methods == nil {
		cfg.Methods = []string{http.MethodPost, http.MethodPatch}
	}
	if cfg.Fingerprint == nil {
		cfg.Fingerprint = DefaultHTTPFingerprint
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.Retention < 0 || cfg.Lease < 0 {
		return nil, errors.New("idempotency: HTTPConfig.Retention and Lease must not be negative")
	}
	if cfg.OnError == nil {
		cfg.OnError = WriteProblem
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Middleware{store: store, cfg: cfg, methods: map[string]bool{}, replay: map[string]bool{}}
	for _, method := range cfg.Methods {
		m.methods[method] = true
	}
	for _, h := range append([]string{"Content-Type", "Location"}, cfg.ReplayHeaders...) {
		h = http.CanonicalHeaderKey(h)
		if !slices.Contains(neverReplayed, h) {
			m.replay[h] = true
		}
	}
	return m, nil
}

// DefaultHTTPFingerprint digests the method, the path with its query, and
// the SHA-256 of the body.
func DefaultHTTPFingerprint(r *http.Request, body []byte) string {
	sum := sha256.Sum256(body)
	return Fingerprint(r.Method, r.URL.RequestURI(), hex.EncodeToString(sum[:]))
}

// WriteProblem is the default HTTPConfig.OnError: it writes status with an
// application/problem+json body whose detail is err's message (store
// errors are not detailed, so nothing about the database leaks).
func WriteProblem(w http.ResponseWriter, r *http.Request, status int, err error) {
	detail := err.Error()
	if errors.Is(err, ErrStoreUnavailable) {
		detail = ErrStoreUnavailable.Error()
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{"about:blank", http.StatusText(status), status, detail})
}

// Handler wraps next. For a request whose method is in Methods it:
// answers 400 when the key is missing or malformed; reserves the key
// (scoped by Scope, compared by Fingerprint); replays a stored response
// with Idempotency-Replayed: true; answers 409 with Retry-After while
// another request with the key runs, and 422 when the key was used for a
// different request; otherwise runs next, storing its status, allow-listed
// headers and body unless the status is 5xx or 429 or the body is too
// large, in which case the key is released for a retry.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !m.methods[r.Method] {
			next.ServeHTTP(w, r)
			return
		}
		values := r.Header.Values(HeaderKey)
		if len(values) == 0 {
			if m.cfg.Optional {
				next.ServeHTTP(w, r)
				return
			}
			m.cfg.OnError(w, r, http.StatusBadRequest, ErrMissingKey)
			return
		}
		if len(values) > 1 {
			m.cfg.OnError(w, r, http.StatusBadRequest, fmt.Errorf("%w: more than one header", ErrMalformedKey))
			return
		}
		key, err := ParseKey(values[0])
		if err != nil {
			m.cfg.OnError(w, r, http.StatusBadRequest, err)
			return
		}
		body, err := m.bufferBody(r)
		if err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, ErrRequestTooLarge) {
				status = http.StatusRequestEntityTooLarge
			}
			m.cfg.OnError(w, r, status, err)
			return
		}
		fingerprint := m.cfg.Fingerprint(r, body)
		if checkText("fingerprint", fingerprint, models.MaxFingerprintLength, false) != nil {
			fingerprint = Fingerprint(fingerprint) // a custom digest too long for the column
		}
		req := Request{Namespace: m.cfg.Namespace, Key: key, Fingerprint: fingerprint,
			Retention: m.cfg.Retention, Lease: m.cfg.Lease}
		if m.cfg.Scope != nil {
			req.Scope = m.cfg.Scope(r)
		}
		res, err := m.store.Reserve(r.Context(), req)
		if err != nil {
			if errors.Is(err, ErrInvalidRequest) {
				m.cfg.OnError(w, r, http.StatusBadRequest, err)
				return
			}
			m.cfg.Logger.ErrorContext(r.Context(), "idempotency: reserve failed", "key", key, "error", err)
			m.cfg.OnError(w, r, http.StatusServiceUnavailable, fmt.Errorf("%w: %w", ErrStoreUnavailable, err))
			return
		}
		switch res.Outcome {
		case Replay:
			m.replayResponse(w, r, res)
		case InProgress:
			w.Header().Set("Retry-After", strconv.Itoa(m.retryAfter(res.LockedUntil)))
			m.cfg.OnError(w, r, http.StatusConflict, fmt.Errorf("%w: retry later", ErrInProgress))
		case FingerprintMismatch:
			m.cfg.OnError(w, r, http.StatusUnprocessableEntity, fmt.Errorf("%w: the key was used for a different request", ErrFingerprintMismatch))
		case Acquired:
			m.serve(w, r, next, res)
		}
	})
}

// bufferBody reads the body for the fingerprint and puts a copy back for
// the handler.
func (m *Middleware) bufferBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, m.cfg.MaxRequestBytes+1))
	_ = r.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("idempotency: read request body: %w", err)
	}
	if int64(len(body)) > m.cfg.MaxRequestBytes {
		return nil, fmt.Errorf("%w (more than %d bytes)", ErrRequestTooLarge, m.cfg.MaxRequestBytes)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

func (m *Middleware) retryAfter(lockedUntil time.Time) int {
	secs := math.Ceil(lockedUntil.Sub(m.store.now()).Seconds())
	return int(max(1, secs))
}

// storedResponse is what the middleware keeps as a record's result.
type storedResponse struct {
	Status int         `json:"status"`
	Header http.Header `json:"header,omitempty"`
	Body   []byte      `json:"body,omitempty"`
}

func (m *Middleware) replayResponse(w http.ResponseWriter, r *http.Request, res *Reservation) {
	var sr storedResponse
	if err := json.Unmarshal(res.Result, &sr); err != nil || sr.Status < 200 {
		m.cfg.Logger.ErrorContext(r.Context(), "idempotency: stored response is unreadable", "key", res.Key, "error", err)
		m.cfg.OnError(w, r, http.StatusServiceUnavailable, fmt.Errorf("%w: stored response is unreadable", ErrStoreUnavailable))
		return
	}
	h := w.Header()
	for name, values := range sr.Header {
		if m.replay[http.CanonicalHeaderKey(name)] { // the allow-list may have shrunk since
			h[http.CanonicalHeaderKey(name)] = values
		}
	}
	h.Set(HeaderReplayed, "true")
	w.WriteHeader(sr.Status)
	_, _ = w.Write(sr.Body)
}

// serve runs next under an acquired reservation and stores or releases.
func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler, res *Reservation) {
	c := &capture{w: w, limit: m.cfg.MaxResponseBytes, allow: m.replay}
	finished := false
	defer func() {
		if !finished { // next panicked (http.ErrAbortHandler included)
			m.finish(r, res, nil)
		}
	}()
	next.ServeHTTP(c, r)
	finished = true
	status := c.status
	if status == 0 {
		status = http.StatusOK // nothing written: net/http sends 200
	}
	if status >= 500 || status == http.StatusTooManyRequests || c.overflow {
		m.finish(r, res, nil)
		return
	}
	result, err := json.Marshal(storedResponse{Status: status, Header: c.header, Body: c.body.Bytes()})
	if err != nil {
		m.finish(r, res, nil)
		return
	}
	m.finish(r, res, result)
}

// finish completes the reservation with result, or releases it when result
// is nil. The response is already on its way, so failures are logged.
func (m *Middleware) finish(r *http.Request, res *Reservation, result []byte) {
	ctx, cancel := m.store.finishContext(r.Context())
	defer cancel()
	var err error
	if result != nil {
		err = m.store.Complete(ctx, res, result)
	} else {
		err = m.store.Fail(ctx, res)
	}
	if err != nil {
		m.cfg.Logger.ErrorContext(context.WithoutCancel(r.Context()), "idempotency: cannot finish request", "key", res.Key, "stored", result != nil, "error", err)
	}
}
