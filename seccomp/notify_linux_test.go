//go:build linux

package seccomp

import (
	"testing"
	"time"
)

// A jail gets its burst at once, then hostnameRate calls a second: the
// launcher's share of a flood is bounded by the bucket, not by the jail.
func TestTokenBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	b := tokenBucket{tokens: hostnameBurst, last: now}
	for i := range hostnameBurst {
		if w := b.wait(now); w != 0 {
			t.Fatalf("call %d of the burst waits %s", i, w)
		}
		b.spend(now)
	}
	want := time.Second / hostnameRate
	if w := b.wait(now); w < want-time.Millisecond || w > want+time.Millisecond {
		t.Fatalf("after the burst: wait %s, want %s", w, want)
	}
	// A second later the bucket holds hostnameRate calls more, never more
	// than the burst: a jail served over ten seconds gets no more than
	// burst + 10*rate answers.
	served := 0
	for step := range 10 * hostnameRate * 10 {
		now := now.Add(time.Duration(step) * time.Second / (10 * hostnameRate))
		if b.wait(now) == 0 {
			b.spend(now)
			served++
		}
	}
	if max := 10*hostnameRate + 1; served > max {
		t.Errorf("served %d calls in 10 s, want at most %d", served, max)
	}
	if min := 10*hostnameRate - 1; served < min {
		t.Errorf("served %d calls in 10 s, want at least %d", served, min)
	}
	b = tokenBucket{tokens: 0, last: now}
	if w := b.wait(now.Add(time.Hour)); w != 0 || b.tokens != hostnameBurst {
		t.Errorf("after an hour idle: wait %s, %v calls, want 0 and %d", w, b.tokens, hostnameBurst)
	}
}
