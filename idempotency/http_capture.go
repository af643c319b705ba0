package idempotency

import (
	"bytes"
	"net/http"
	"slices"
)

// capture passes the response through to the client while keeping a copy
// of its status, allow-listed headers and body, up to a limit.
type capture struct {
	w        http.ResponseWriter
	limit    int64
	allow    map[string]bool
	status   int
	header   http.Header
	body     bytes.Buffer
	overflow bool
}

// Header returns the real response's header map.
func (c *capture) Header() http.Header { return c.w.Header() }

// WriteHeader records the first final status and the allow-listed headers
// as they are sent.
func (c *capture) WriteHeader(code int) {
	if c.status == 0 && code >= 200 {
		c.status = code
		c.header = http.Header{}
		for name, values := range c.w.Header() {
			if c.allow[http.CanonicalHeaderKey(name)] {
				c.header[http.CanonicalHeaderKey(name)] = slices.Clone(values)
			}
		}
	}
	c.w.WriteHeader(code)
}

// Write copies p into the stored body until the limit is passed, then
// stops storing; the client always gets every byte.
func (c *capture) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if !c.overflow {
		if int64(c.body.Len()+len(p)) > c.limit {
			c.overflow = true
			c.body = bytes.Buffer{}
		} else {
			c.body.Write(p)
		}
	}
	return c.w.Write(p)
}

// Flush sends buffered data to the client when the real writer can.
func (c *capture) Flush() {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if f, ok := c.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (c *capture) Unwrap() http.ResponseWriter { return c.w }
