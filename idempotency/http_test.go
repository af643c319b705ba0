package idempotency

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/testdb"
)

// httpBundle is a test server behind the middleware, whose handler answers
// with the status in the X-Want-Status request header (default 201).
type httpBundle struct {
	*bundle
	srv   *httptest.Server
	mw    *Middleware
	calls atomic.Int32
	// gate, when set, blocks the handler until it is closed.
	gate    chan struct{}
	entered chan struct{}
}

func setupHTTP(t *testing.T, db *gormkit.DB, cfg HTTPConfig) *httpBundle {
	t.Helper()
	h := &httpBundle{bundle: setup(t, db)}
	if cfg.Scope == nil {
		cfg.Scope = func(r *http.Request) map[string]string { return map[string]string{"tenant": r.Header.Get("X-Tenant")} }
	}
	mw, err := NewMiddleware(h.store, cfg)
	require.NoError(t, err)
	h.mw = mw
	h.srv = httptest.NewServer(mw.Handler(http.HandlerFunc(h.handle)))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *httpBundle) handle(w http.ResponseWriter, r *http.Request) {
	n := h.calls.Add(1)
	if h.gate != nil {
		h.entered <- struct{}{}
		<-h.gate
	}
	body, _ := io.ReadAll(r.Body)
	status := http.StatusCreated
	if s := r.Header.Get("X-Want-Status"); s != "" {
		status = atoi(s)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", "/orders/42")
	w.Header().Set("Set-Cookie", "session=secret")
	w.Header().Set("Authorization", "Bearer secret")
	w.Header().Set("X-Trace", "trace-1")
	w.Header().Set("X-Not-Listed", "x")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"call":`+strconv.Itoa(int(n))+`,"echo":"`+string(body)+`"}`)
}

type response struct {
	status int
	header http.Header
	body   string
}

func (h *httpBundle) do(t *testing.T, method, key, body string, headers ...string) response {
	t.Helper()
	r, err := http.NewRequest(method, h.srv.URL+"/orders?x=1", strings.NewReader(body))
	require.NoError(t, err)
	if key != "" {
		r.Header.Set(HeaderKey, key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{res.StatusCode, res.Header, string(b)}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func sqliteMemory(t *testing.T) *gormkit.DB {
	return testdb.Open(t, backend(t, "sqlite-memory"))
}

func TestMiddlewareReplaysStoredResponse(t *testing.T) {
	t.Parallel()
	h := setupHTTP(t, sqliteMemory(t), HTTPConfig{ReplayHeaders: []string{"x-trace", "Set-Cookie", "Authorization"}})

	first := h.do(t, http.MethodPost, `"8e03978e-40d5-43e8-bc93-6894a57f9324"`, "a")
	require.Equal(t, http.StatusCreated, first.status)
	require.Equal(t, "session=secret", first.header.Get("Set-Cookie"), "the first response is untouched")
	require.Empty(t, first.header.Get(HeaderReplayed))

	// The same key, quoted or plain, replays.
	for _, key := range []string{`"8e03978e-40d5-43e8-bc93-6894a57f9324"`, `8e03978e-40d5-43e8-bc93-6894a57f9324`, ` "8e03978e-40d5-43e8-bc93-6894a57f9324" `} {
		again := h.do(t, http.MethodPost, key, "a")
		require.Equal(t, http.StatusCreated, again.status)
		require.Equal(t, first.body, again.body)
		require.Equal(t, "true", again.header.Get(HeaderReplayed))
		require.Equal(t, "application/json", again.header.Get("Content-Type"))
		require.Equal(t, "/orders/42", again.header.Get("Location"))
		require.Equal(t, "trace-1", again.header.Get("X-Trace"))
		require.Empty(t, again.header.Get("Set-Cookie"), "never replayed")
		require.Empty(t, again.header.Get("Authorization"), "never replayed")
		require.Empty(t, again.header.Get("X-Not-Listed"))
	}
	require.EqualValues(t, 1, h.calls.Load())

	// 4xx responses are stored too.
	bad := h.do(t, http.MethodPost, `"k-400"`, "a", "X-Want-Status", "404")
	require.Equal(t, http.StatusNotFound, bad.status)
	require.Equal(t, http.StatusNotFound, h.do(t, http.MethodPost, `"k-400"`, "a").status)
	require.EqualValues(t, 2, h.calls.Load())

	// Another tenant has its own key space.
	other := h.do(t, http.MethodPost, `"8e03978e-40d5-43e8-bc93-6894a57f9324"`, "a", "X-Tenant", "t2")
	require.Empty(t, other.header.Get(HeaderReplayed))
	require.EqualValues(t, 3, h.calls.Load())
}

func TestMiddlewareRejectsBadKeys(t *testing.T) {
	t.Parallel()
	h := setupHTTP(t, sqliteMemory(t), HTTPConfig{})
	missing := h.do(t, http.MethodPost, "", "a")
	require.Equal(t, http.StatusBadRequest, missing.status)
	require.Equal(t, "application/problem+json", missing.header.Get("Content-Type"))
	require.Contains(t, missing.body, "Idempotency-Key header is required")
	require.Equal(t, http.StatusBadRequest, h.do(t, http.MethodPatch, "", "a").status)

	for _, key := range []string{`""`, `"unterminated`, `two words`, `"a";p=1`, `a,b`, `"a\tb"`, `"\x"`, `"` + strings.Repeat("k", 256) + `"`, "caf\u00e9"} {
		res := h.do(t, http.MethodPost, key, "a")
		require.Equal(t, http.StatusBadRequest, res.status, "key %q", key)
		require.Contains(t, res.body, "malformed Idempotency-Key")
	}
	require.Equal(t, http.StatusBadRequest, h.do(t, http.MethodPost, "", "a", HeaderKey, "a", HeaderKey, "b").status)

	// Methods outside the list pass through, with or without a key.
	require.Equal(t, http.StatusCreated, h.do(t, http.MethodGet, "", "").status)
	require.Equal(t, http.StatusCreated, h.do(t, http.MethodPut, `"k"`, "").status)
	require.EqualValues(t, 2, h.calls.Load())

	opt := setupHTTP(t, sqliteMemory(t), HTTPConfig{Optional: true, Methods: []string{http.MethodPut}})
	require.Equal(t, http.StatusCreated, opt.do(t, http.MethodPut, "", "a").status)
	require.Equal(t, http.StatusBadRequest, opt.do(t, http.MethodPut, `"`, "a").status)
}

func TestMiddlewareFingerprintMismatch(t *testing.T) {
	t.Parallel()
	h := setupHTTP(t, sqliteMemory(t), HTTPConfig{})
	require.Equal(t, http.StatusCreated, h.do(t, http.MethodPost, `"k"`, "a").status)
	res := h.do(t, http.MethodPost, `"k"`, "b")
	require.Equal(t, http.StatusUnprocessableEntity, res.status)
	require.Contains(t, res.body, "different request")
	require.Equal(t, http.StatusUnprocessableEntity, h.do(t, http.MethodPatch, `"k"`, "a").status, "the method is in the fingerprint")
	require.EqualValues(t, 1, h.calls.Load())
}

func TestMiddlewareInProgress(t *testing.T) {
	t.Parallel()
	h := setupHTTP(t, sqliteMemory(t), HTTPConfig{})
	h.gate, h.entered = make(chan struct{}), make(chan struct{}, 1)
	done := make(chan response)
	go func() { done <- h.do(t, http.MethodPost, `"k"`, "a") }()
	<-h.entered

	busy := h.do(t, http.MethodPost, `"k"`, "a")
	require.Equal(t, http.StatusConflict, busy.status)
	require.Equal(t, "60", busy.header.Get("Retry-After"), "the whole default lease is left on the fake clock")
	h.clock.Advance(DefaultLease - 1500*1000*1000)
	require.Equal(t, "2", h.do(t, http.MethodPost, `"k"`, "a").header.Get("Retry-After"))
	require.Equal(t, http.StatusUnprocessableEntity, h.do(t, http.MethodPost, `"k"`, "b").status, "mismatch wins over in progress")

	close(h.gate)
	require.Equal(t, http.StatusCreated, (<-done).status)
	require.Equal(t, "true", h.do(t, http.MethodPost, `"k"`, "a").header.Get(HeaderReplayed))
}

func TestMiddlewareDoesNotStoreErrorsOrLargeResponses(t *testing.T) {
	t.Parallel()
	h := setupHTTP(t, sqliteMemory(t), HTTPConfig{MaxResponseBytes: 64, MaxRequestBytes: 100})
	for _, status := range []string{"500", "503", "429"} {
		key := `"k-` + status + `"`
		require.Equal(t, atoi(status), h.do(t, http.MethodPost, key, "a", "X-Want-Status", status).status)
		again := h.do(t, http.MethodPost, key, "a")
		require.Equal(t, http.StatusCreated, again.status, "the key was released, so the retry ran")
		require.Empty(t, again.header.Get(HeaderReplayed))
	}
	require.EqualValues(t, 6, h.calls.Load())
	require.Zero(t, countCompleted(t, h.bundle)-3)

	big := strings.Repeat("x", 60) // the echoed response passes 64 bytes
	require.Equal(t, http.StatusCreated, h.do(t, http.MethodPost, `"k-big"`, big).status)
	again := h.do(t, http.MethodPost, `"k-big"`, big)
	require.Contains(t, again.body, big, "a large response passes through whole")
	require.Empty(t, again.header.Get(HeaderReplayed), "but is not stored")
	require.EqualValues(t, 8, h.calls.Load())

	tooLarge := h.do(t, http.MethodPost, `"k-huge"`, strings.Repeat("x", 101))
	require.Equal(t, http.StatusRequestEntityTooLarge, tooLarge.status)
	require.EqualValues(t, 8, h.calls.Load())
}

func TestMiddlewareHashesLongCustomFingerprints(t *testing.T) {
	t.Parallel()
	h := setupHTTP(t, sqliteMemory(t), HTTPConfig{Fingerprint: func(r *http.Request, body []byte) string {
		return strings.Repeat("x", 300) + string(body)
	}})
	require.Equal(t, http.StatusCreated, h.do(t, http.MethodPost, `"k"`, "a").status)
	require.Equal(t, "true", h.do(t, http.MethodPost, `"k"`, "a").header.Get(HeaderReplayed))
	require.Equal(t, http.StatusUnprocessableEntity, h.do(t, http.MethodPost, `"k"`, "b").status)
}

func countCompleted(t *testing.T, b *bundle) int64 {
	var n int64
	require.NoError(t, b.db.Gorm.Table(b.table).Where("status = ?", "completed").Count(&n).Error)
	return n
}

func TestMiddlewarePanicReleasesAndFlushPassesThrough(t *testing.T) {
	t.Parallel()
	b := setup(t, sqliteMemory(t))
	mw, err := NewMiddleware(b.store, HTTPConfig{})
	require.NoError(t, err)
	panicking := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) }))
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("a"))
	r.Header.Set(HeaderKey, `"k"`)
	require.Panics(t, func() { panicking.ServeHTTP(httptest.NewRecorder(), r) })
	require.Zero(t, b.count(t))

	flushing := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "part")
		require.NoError(t, http.NewResponseController(w).Flush())
	}))
	rec := httptest.NewRecorder()
	r = httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set(HeaderKey, `"k2"`)
	flushing.ServeHTTP(rec, r)
	require.True(t, rec.Flushed)
	rec = httptest.NewRecorder()
	flushing.ServeHTTP(rec, r)
	require.Equal(t, "true", rec.Header().Get(HeaderReplayed))
	require.Equal(t, "part", rec.Body.String())
}

// Concurrent identical requests run the handler once, on every backend.
func TestMiddlewareConcurrentRequestsRunHandlerOnce(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		h := setupHTTP(t, db, HTTPConfig{})
		h.gate, h.entered = make(chan struct{}), make(chan struct{}, 1)
		const n = 8
		results := make(chan response, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() { results <- h.do(t, http.MethodPost, `"same"`, "body") })
		}
		<-h.entered
		conflicts := 0
		for range n - 1 {
			res := <-results
			require.Equal(t, http.StatusConflict, res.status)
			require.NotEmpty(t, res.header.Get("Retry-After"))
			conflicts++
		}
		close(h.gate)
		wg.Wait()
		winner := <-results
		require.Equal(t, http.StatusCreated, winner.status)
		require.Equal(t, n-1, conflicts)

		for range n {
			wg.Go(func() {
				res := h.do(t, http.MethodPost, `"same"`, "body")
				require.Equal(t, winner.body, res.body)
				require.Equal(t, "true", res.header.Get(HeaderReplayed))
			})
		}
		wg.Wait()
		require.EqualValues(t, 1, h.calls.Load())
	})
}

func TestParseKey(t *testing.T) {
	good := map[string]string{
		`"abc"`:      "abc",
		`abc`:        "abc",
		` "a b" `:    "a b",
		`"a\"b\\c"`:  `a"b\c`,
		`8e03978e-1`: "8e03978e-1",
		`*tok:/en`:   "*tok:/en",
	}
	for in, want := range good {
		got, err := ParseKey(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got)
	}
	for _, in := range []string{"", " ", `""`, `"`, `"a`, `"a"b`, `"a";x`, `a b`, `a,b`, `a;b`, `a"`, `"\n"`, "\"\u00e9\"", "a\x00"} {
		_, err := ParseKey(in)
		require.ErrorIs(t, err, ErrMalformedKey, "%q", in)
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{`"abc"`, `abc`, `"a\"b"`, `""`, `"a";p`, "\"\x7f\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		key, err := ParseKey(in)
		if err != nil {
			return
		}
		if key == "" || len(key) > 255 {
			t.Fatalf("ParseKey(%q) = %q", in, key)
		}
		if _, err := (Request{Namespace: "n", Key: key}).resolve(Config{}.WithDefaults()); err != nil {
			t.Fatalf("parsed key %q fails request validation: %v", key, err)
		}
	})
}
