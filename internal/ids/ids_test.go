package ids

import (
	"regexp"
	"testing"
	"time"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewV7IncreasesWithinOneMillisecond(t *testing.T) {
	now := time.Now()
	prev := NewV7(now)
	for i := 0; i < 10000; i++ {
		id := NewV7(now)
		if !uuidRE.MatchString(id) || id[14] != '7' {
			t.Fatalf("not a v7 UUID: %s", id)
		}
		if id <= prev {
			t.Fatalf("id %s not after %s", id, prev)
		}
		prev = id
	}
}

func TestTokenIsRandomV4(t *testing.T) {
	a, b := Token(), Token()
	if a == b || !uuidRE.MatchString(a) || a[14] != '4' {
		t.Fatalf("bad tokens %s %s", a, b)
	}
}
