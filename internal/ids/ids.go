// Package ids makes the identifiers gormkit stores: time-ordered UUIDs
// (version 7) for rows and random UUIDs (version 4) for claim and
// reservation tokens.
package ids

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// v7 state keeps IDs made in the same millisecond increasing: the 12-bit
// rand_a field becomes a counter seeded randomly each new millisecond.
var (
	mu     sync.Mutex
	lastMS int64
	seq    uint16
)

// NewV7 returns a version 7 UUID for time t. IDs from one process are
// strictly increasing as strings, even within one millisecond.
func NewV7(t time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	ms := t.UnixMilli()
	mu.Lock()
	if ms <= lastMS {
		ms = lastMS // never go back, even if the clock does
		seq++
		if seq > 0x0fff { // counter exhausted: borrow the next millisecond
			ms++
			seq = uint16(b[6]&0x03)<<8 | uint16(b[7])
		}
	} else {
		seq = uint16(b[6]&0x03)<<8 | uint16(b[7]) // leave headroom to count up
	}
	lastMS = ms
	s := seq
	mu.Unlock()

	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = 0x70 | byte(s>>8)&0x0f
	b[7] = byte(s)
	b[8] = b[8]&0x3f | 0x80
	return format(b)
}

// Token returns a random version 4 UUID.
func Token() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return format(b)
}

func format(b [16]byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
