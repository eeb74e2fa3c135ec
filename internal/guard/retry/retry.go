// Package retry holds the guard's retry primitives: exponential backoff with
// full jitter, parsing of the provider's Retry-After hints, and a retry
// budget.
//
// The budget exists because per-request attempt caps alone multiply load
// during an outage: with 3 attempts, a failing provider sees three times the
// traffic exactly when it can least take it. Capping retries to a fraction of
// recent requests keeps the extra load bounded however many clients retry.
package retry

import (
	"github.com/breakwater-dev/breakwater/internal/guard/window"

	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Backoff computes delays between attempts.
type Backoff struct {
	Base time.Duration // ceiling of the first retry's delay
	Max  time.Duration // upper bound of any delay; <= 0 means no bound beyond overflow
}

// Delay returns the wait before the given retry (1-based), drawn uniformly
// from [0, min(Max, Base*2^(retry-1))). Full jitter rather than a fixed
// exponential keeps many clients that failed together from retrying together.
// rnd must return values in [0,1); nil uses math/rand/v2.
func (b Backoff) Delay(retry int, rnd func() float64) time.Duration {
	if b.Base <= 0 {
		return 0
	}
	if retry < 1 {
		retry = 1
	}
	ceiling := b.Base
	for i := 1; i < retry; i++ {
		if b.Max > 0 && ceiling >= b.Max {
			break
		}
		if ceiling > math.MaxInt64/2 {
			ceiling = math.MaxInt64
			break
		}
		ceiling *= 2
	}
	if b.Max > 0 && ceiling > b.Max {
		ceiling = b.Max
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	f := rnd()
	if !(f >= 0) { // also catches NaN
		f = 0
	}
	d := time.Duration(f * float64(ceiling))
	// A misbehaving rnd (>= 1) or float rounding must not reach the ceiling.
	if d >= ceiling {
		d = ceiling - 1
	}
	return d
}

// maxHint bounds a parsed hint so that adding it to a time never overflows;
// the caller decides whether a wait that long is worth it.
const maxHint = time.Duration(math.MaxInt64 / 2)

// RetryAfter reads how long the provider asked us to wait. retry-after-ms
// (sent by OpenAI and compatible servers, finer grained) wins over
// Retry-After, which may be delta-seconds or an HTTP-date. A date in the past
// means "now" (0, true). It returns false when no header holds a valid value.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if d, ok := parseAmount(v, float64(time.Millisecond)); ok {
			return d, true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if d, ok := parseAmount(v, float64(time.Second)); ok {
		return d, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return min(d, maxHint), true
}

// parseAmount accepts a non-negative decimal count of unit. Fractions are
// allowed because SDKs (OpenAI's among them) send and accept them.
func parseAmount(v string, unit float64) (time.Duration, bool) {
	if v == "" || v[0] < '0' || v[0] > '9' {
		// Rejects signs, "Inf", "NaN" and hex forms that ParseFloat would take.
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	ns := f * unit
	if ns >= float64(maxHint) {
		return maxHint, true
	}
	return time.Duration(ns), true
}

// Budget bounds retries to a share of recent requests. It is safe for
// concurrent use.
type Budget struct {
	ratio      float64
	minRetries int64
	now        func() time.Time

	mu     sync.Mutex
	window window.Window // requests (total) and retries (marked)
}

// NewBudget returns a budget allowing, within any rolling window, at most
// max(minRetries, ratio*requests seen in the window) retries. minRetries
// lets a quiet client still retry the odd failure. now nil means time.Now.
func NewBudget(ratio float64, minRetries int, length time.Duration, now func() time.Time) *Budget {
	if now == nil {
		now = time.Now
	}
	if ratio < 0 || math.IsNaN(ratio) {
		ratio = 0
	}
	if minRetries < 0 {
		minRetries = 0
	}
	return &Budget{ratio: ratio, minRetries: int64(minRetries), now: now, window: window.New(length, now())}
}

// Request counts one client request (not a retry).
func (b *Budget) Request() {
	b.mu.Lock()
	b.window.Add(b.now(), 1, 0)
	b.mu.Unlock()
}

// Allow takes one retry from the budget if the window still has room and
// reports whether it did; false means the caller must not retry.
func (b *Budget) Allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	requests, retries := b.window.Sums(now)
	limit := max(float64(b.minRetries), b.ratio*float64(requests))
	if float64(retries+1) > limit {
		return false
	}
	b.window.Add(now, 0, 1)
	return true
}
