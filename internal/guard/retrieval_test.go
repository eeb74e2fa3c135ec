package guard_test

import (
	"testing"
	"time"

	"github.com/breakwater-dev/breakwater/internal/guard"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/test/upstreamsim"
)

// TestRetrievalStopsBeforeAWaitPastTheDeadline: retrieval shares the model endpoints' retry loop,
// which does not sleep into the request deadline. A backoff longer than the time left answers the
// backend's failure at once, instead of a timeout after the whole request timeout.
func TestRetrievalStopsBeforeAWaitPastTheDeadline(t *testing.T) {
	h := newHarnessWith(t, func(o *guard.Options) { o.Rand = func() float64 { return 0.99 } }, func(c *guardconfig.Config) {
		kb := &c.RetrievalBackends[1]
		kb.Timeout = guardconfig.Duration(time.Second)
		kb.Retry.BackoffBase = guardconfig.Duration(time.Minute)
		kb.Retry.BackoffMax = guardconfig.Duration(time.Minute)
	})
	h.east.SetFaults(upstreamsim.Faults{ErrorRate: 1})
	status, hdr, _ := h.post("/r/kb/search", `{"query":"q"}`)
	if status != 503 || hdr.Get(guard.HeaderReason) != guard.ReasonUpstreamError {
		t.Errorf("got %d %q, want 503 upstream_error (not a 504 after sleeping into the deadline)", status, hdr.Get(guard.HeaderReason))
	}
	if got := h.east.Stats().Requests["search.generic"]; got != 1 {
		t.Errorf("backend requests = %d, want 1", got)
	}
}

// TestRetrievalHonoursRetryAfter: a throttled backend's Retry-After is the wait before the retry
// (up to maxRetryAfter), so a Retry-After longer than the time left ends the request at once with
// the backend's throttling, where a backoff of milliseconds would have hammered it.
func TestRetrievalHonoursRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name          string
		maxRetryAfter time.Duration
	}{
		{"within maxRetryAfter but past the deadline", 5 * time.Second},
		{"beyond maxRetryAfter", 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *guardconfig.Config) {
				kb := &c.RetrievalBackends[1]
				kb.Timeout = guardconfig.Duration(800 * time.Millisecond)
				kb.Retry.MaxRetryAfter = guardconfig.Duration(tc.maxRetryAfter)
			})
			h.east.SetFaults(upstreamsim.Faults{ThrottleRate: 1, RetryAfter: time.Second})
			status, hdr, _ := h.post("/r/kb/search", `{"query":"q"}`)
			if status != 429 || hdr.Get(guard.HeaderReason) != guard.ReasonUpstreamThrottled {
				t.Errorf("got %d %q, want 429 upstream_throttled", status, hdr.Get(guard.HeaderReason))
			}
			if got := h.east.Stats().Requests["search.generic"]; got != 1 {
				t.Errorf("backend requests = %d, want 1: no retry before Retry-After", got)
			}
		})
	}
}
