// Package quota holds the guard's local token allowance: a token bucket the
// manager sizes from the TokenQuota it enforces.
//
// The guard cannot know the true cost of a request before the provider
// answers, so it reserves an estimate (prompt estimate plus max output
// tokens) up front and settles the difference once the provider reports
// usage. Settling may leave the bucket in debt; that debt is real spend and
// must delay later requests rather than be forgiven.
package quota

import (
	"math"
	"sync"
	"time"
)

// Bucket is safe for concurrent use. The level is a float64 so that slow
// rates refill smoothly between requests; 53 bits of precision are far more
// than any token count needs.
type Bucket struct {
	now func() time.Time

	mu    sync.Mutex
	rate  float64 // tokens per minute, also the capacity
	level float64 // may be negative (debt)
	last  time.Time
}

// NewBucket returns a full bucket: a freshly started guard may spend one
// minute's allowance at once, which is what the rate already permits. A rate
// <= 0 allows nothing. now nil means time.Now.
func NewBucket(tokensPerMinute int64, now func() time.Time) *Bucket {
	if now == nil {
		now = time.Now
	}
	r := max(float64(tokensPerMinute), 0)
	return &Bucket{now: now, rate: r, level: r, last: now()}
}

// refill adds the tokens earned since the last call. A clock stepping back
// earns nothing and does not move last backwards, so no tokens are minted
// twice. Callers hold b.mu.
func (b *Bucket) refill() {
	t := b.now()
	elapsed := t.Sub(b.last)
	if elapsed <= 0 {
		return
	}
	b.last = t
	b.level = math.Min(b.rate, b.level+b.rate*elapsed.Minutes())
}

// Reserve takes n tokens if that many are available and reports whether it
// did; it takes nothing otherwise, so a refused request costs nothing.
// n <= 0 always succeeds.
func (b *Bucket) Reserve(n int64) bool {
	if n <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	if b.level < float64(n) {
		return false
	}
	b.level -= float64(n)
	return true
}

// Settle replaces an earlier reservation by the usage the provider reported:
// unused tokens return to the bucket, overspend is taken even if that leaves
// the bucket in debt.
func (b *Bucket) Settle(reserved, actual int64) {
	if reserved == actual {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	b.level = math.Min(b.rate, b.level+float64(reserved)-float64(actual))
}

// SetRate changes the allowance on a config reload. The current level is
// kept (a reload must not hand out a fresh minute) but clamped to the new
// capacity; tokens earned so far are credited at the old rate.
func (b *Bucket) SetRate(tokensPerMinute int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	b.rate = max(float64(tokensPerMinute), 0)
	b.level = math.Min(b.level, b.rate)
}

// Available returns the whole tokens available now; negative while in debt.
func (b *Bucket) Available() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	return int64(math.Floor(b.level))
}
