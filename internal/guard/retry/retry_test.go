package retry

import (
	windowpkg "github.com/breakwater-dev/breakwater/internal/guard/window"

	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBackoffDelay(t *testing.T) {
	tests := []struct {
		name  string
		b     Backoff
		retry int
		rnd   float64
		want  time.Duration
	}{
		{"first retry at top of range", Backoff{Base: 100 * time.Millisecond, Max: 10 * time.Second}, 1, 0.5, 50 * time.Millisecond},
		{"second doubles", Backoff{Base: 100 * time.Millisecond, Max: 10 * time.Second}, 2, 0.5, 100 * time.Millisecond},
		{"third doubles again", Backoff{Base: 100 * time.Millisecond, Max: 10 * time.Second}, 3, 0.5, 200 * time.Millisecond},
		{"capped by max", Backoff{Base: 100 * time.Millisecond, Max: time.Second}, 10, 0.5, 500 * time.Millisecond},
		{"zero jitter", Backoff{Base: time.Second, Max: time.Minute}, 4, 0, 0},
		{"rnd just below one stays below ceiling", Backoff{Base: time.Second, Max: time.Minute}, 1, 0.999999999, 999999999},
		{"rnd of one is clamped below ceiling", Backoff{Base: time.Second, Max: time.Minute}, 1, 1, time.Second - 1},
		{"negative rnd treated as zero", Backoff{Base: time.Second, Max: time.Minute}, 1, -3, 0},
		{"retry zero treated as first", Backoff{Base: time.Second, Max: time.Minute}, 0, 0.5, 500 * time.Millisecond},
		{"huge retry does not overflow", Backoff{Base: time.Second, Max: time.Hour}, 1000, 0.5, 30 * time.Minute},
		{"huge retry without max does not overflow", Backoff{Base: time.Second}, 1000, 0.5, time.Duration(float64(1<<63-1) * 0.5)},
		{"zero base means no wait", Backoff{Max: time.Second}, 3, 0.5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.b.Delay(tc.retry, func() float64 { return tc.rnd })
			if got != tc.want {
				t.Errorf("Delay(%d) = %v, want %v", tc.retry, got, tc.want)
			}
		})
	}
}

func TestBackoffDelayDefaultRandInRange(t *testing.T) {
	b := Backoff{Base: 10 * time.Millisecond, Max: time.Second}
	for retry := 1; retry <= 12; retry++ {
		ceiling := min(b.Max, b.Base<<(retry-1))
		for range 100 {
			if d := b.Delay(retry, nil); d < 0 || d >= ceiling {
				t.Fatalf("Delay(%d) = %v, want in [0, %v)", retry, d, ceiling)
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
		wantOK bool
	}{
		{"absent", nil, 0, false},
		{"delta seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second, true},
		{"delta seconds with spaces", map[string]string{"Retry-After": " 2 "}, 2 * time.Second, true},
		{"fractional seconds", map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond, true},
		{"zero", map[string]string{"Retry-After": "0"}, 0, true},
		{"http date in future", map[string]string{"Retry-After": "Tue, 24 Nov 2026 12:00:30 GMT"}, 30 * time.Second, true},
		{"http date in past", map[string]string{"Retry-After": "Tue, 24 Nov 2026 11:00:00 GMT"}, 0, true},
		{"milliseconds win", map[string]string{"Retry-After": "7", "Retry-After-Ms": "250"}, 250 * time.Millisecond, true},
		{"invalid milliseconds fall back", map[string]string{"Retry-After": "7", "Retry-After-Ms": "soon"}, 7 * time.Second, true},
		{"negative", map[string]string{"Retry-After": "-1"}, 0, false},
		{"garbage", map[string]string{"Retry-After": "later"}, 0, false},
		{"infinity", map[string]string{"Retry-After": "Inf"}, 0, false},
		{"nan", map[string]string{"Retry-After-Ms": "NaN"}, 0, false},
		{"huge is capped", map[string]string{"Retry-After": "1e300"}, maxHint, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			got, ok := RetryAfter(h, now)
			if diff := cmp.Diff([]any{tc.want, tc.wantOK}, []any{got, ok}); diff != "" {
				t.Errorf("RetryAfter(%v) mismatch (-want +got):\n%s", tc.header, diff)
			}
		})
	}
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock               { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func take(b *Budget, n int) (granted int) {
	for range n {
		if b.Allow() {
			granted++
		}
	}
	return granted
}

func TestBudgetAllow(t *testing.T) {
	tests := []struct {
		name       string
		ratio      float64
		minRetries int
		requests   int
		attempts   int
		want       int
	}{
		{"minimum when idle", 0.1, 3, 0, 10, 3},
		{"ratio of requests", 0.1, 3, 100, 50, 10},
		{"minimum wins over small ratio", 0.1, 5, 20, 50, 5},
		{"zero ratio and minimum never retries", 0, 0, 100, 10, 0},
		{"ratio one allows one retry per request", 1, 0, 7, 20, 7},
		{"fractional budget rounds down", 0.25, 0, 10, 10, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			b := NewBudget(tc.ratio, tc.minRetries, 10*time.Second, c.now)
			for range tc.requests {
				b.Request()
			}
			if got := take(b, tc.attempts); got != tc.want {
				t.Errorf("granted %d retries, want %d", got, tc.want)
			}
		})
	}
}

func TestBudgetWindowRolls(t *testing.T) {
	c := newClock()
	b := NewBudget(0.5, 0, 10*time.Second, c.now)
	for range 10 {
		b.Request()
	}
	if got := take(b, 10); got != 5 {
		t.Fatalf("granted %d, want 5", got)
	}
	// Still inside the window: the spent retries still count.
	c.add(9 * time.Second)
	if got := take(b, 1); got != 0 {
		t.Fatalf("inside window granted %d, want 0", got)
	}
	// The slice holding both requests and retries has left the window.
	c.add(time.Second)
	if got := take(b, 1); got != 0 {
		t.Fatalf("after window with no requests granted %d, want 0", got)
	}
	b.Request()
	b.Request()
	if got := take(b, 5); got != 1 {
		t.Fatalf("after window granted %d, want 1", got)
	}
}

func TestBudgetClockBackwards(t *testing.T) {
	c := newClock()
	b := NewBudget(1, 0, 10*time.Second, c.now)
	c.add(30 * time.Second)
	b.Request()
	c.add(-25 * time.Second)
	// A stepped-back clock must neither lose the request nor index a bucket
	// from the past.
	if got := take(b, 3); got != 1 {
		t.Fatalf("granted %d, want 1", got)
	}
}

// TestBudgetRetryStorm drives 10,000 requests against a target that always
// fails, every request retrying until the budget says no, and checks that the
// retries never exceed the budget in any window.
func TestBudgetRetryStorm(t *testing.T) {
	const (
		requests    = 10000
		maxAttempts = 5
		ratio       = 0.1
		minRetries  = 10
		window      = 10 * time.Second
	)
	tests := []struct {
		name string
		step time.Duration // fake time between requests
	}{
		{"all at once", 0},
		{"steady over many windows", 10 * time.Millisecond}, // 100 requests per second, 100 s in all
		{"slow trickle", 700 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			start := c.t
			b := NewBudget(ratio, minRetries, window, c.now)
			width := window / windowpkg.Buckets
			// Per bucket-width slice: requests and granted retries.
			reqs := map[int64]int{}
			rets := map[int64]int{}
			total := 0
			for range requests {
				slot := int64(c.t.Sub(start) / width)
				b.Request()
				reqs[slot]++
				for attempt := 2; attempt <= maxAttempts; attempt++ {
					if !b.Allow() {
						break
					}
					rets[slot]++
					total++
				}
				c.add(tc.step)
			}
			last := int64(c.t.Sub(start) / width)
			for end := int64(0); end <= last; end++ {
				var r, x int
				for s := end - windowpkg.Buckets + 1; s <= end; s++ {
					r += reqs[s]
					x += rets[s]
				}
				limit := max(float64(minRetries), ratio*float64(r))
				if float64(x) > limit {
					t.Fatalf("window ending at slot %d: %d retries for %d requests, limit %v", end, x, r, limit)
				}
			}
			if total == 0 {
				t.Fatalf("no retries granted at all; the budget should allow some")
			}
			if max(float64(minRetries), ratio*requests) < float64(total) && tc.step == 0 {
				t.Fatalf("granted %d retries in one window, limit %v", total, ratio*requests)
			}
		})
	}
}

func TestBudgetConcurrent(t *testing.T) {
	c := newClock()
	b := NewBudget(0.2, 0, time.Minute, c.now)
	done := make(chan int)
	for range 8 {
		go func() {
			n := 0
			for range 1000 {
				b.Request()
				if b.Allow() {
					n++
				}
			}
			done <- n
		}()
	}
	total := 0
	for range 8 {
		total += <-done
	}
	if total > 1600 {
		t.Fatalf("granted %d retries for 8000 requests, limit 1600", total)
	}
}

func BenchmarkBudgetAllow(b *testing.B) {
	// A budget that always has room, so every call takes the full path.
	bud := NewBudget(1e12, 0, 10*time.Second, time.Now)
	bud.Request()
	b.ReportAllocs()
	for b.Loop() {
		bud.Allow()
	}
}

func BenchmarkBudgetRequestAllow(b *testing.B) {
	bud := NewBudget(0.1, 10, 10*time.Second, time.Now)
	b.ReportAllocs()
	for b.Loop() {
		bud.Request()
		bud.Allow()
	}
}

func BenchmarkBackoffDelay(b *testing.B) {
	bo := Backoff{Base: 100 * time.Millisecond, Max: 10 * time.Second}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		bo.Delay(i%8+1, nil)
	}
}
