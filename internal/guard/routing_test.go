package guard_test

import (
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/breakwater-dev/breakwater/internal/guard"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/metrics"
	"github.com/breakwater-dev/breakwater/test/upstreamsim"
)

// TestWeightedRouting: the weighted order follows Options.Rand; weight-0 targets only as fallback.
func TestWeightedRouting(t *testing.T) {
	tests := []struct {
		rand float64
		want string
	}{
		{0.0, "east"},  // in [0, 0.25): east (weight 25)
		{0.24, "east"}, // still east
		{0.5, "west"},  // in [0.25, 1): west (weight 75)
		{0.99, "west"},
	}
	for _, tt := range tests {
		h := newHarnessWith(t, func(o *guard.Options) { o.Rand = func() float64 { return tt.rand } }, func(c *guardconfig.Config) {
			c.Endpoints[0].Targets[0].Weight, c.Endpoints[0].Targets[1].Weight = 25, 75
		})
		status, hdr, _ := h.post("/m/claude/model/x/converse", converseBody)
		if status != 200 || hdr.Get(guard.HeaderTarget) != tt.want {
			t.Errorf("rand %g: %d via %q, want 200 via %s", tt.rand, status, hdr.Get(guard.HeaderTarget), tt.want)
		}
	}
}

// TestBreakerHalfOpenRecovers: after openDuration a probe goes through and closes the breaker.
func TestBreakerHalfOpenRecovers(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Unix(1_800_000_000, 0))
	h := newHarnessWith(t, func(o *guard.Options) { o.Now = clock.Now }, func(c *guardconfig.Config) {
		c.Endpoints[1].Breaker = guardconfig.Breaker{ConsecutiveFailures: 1, MinRequests: 100, OpenDuration: guardconfig.Duration(time.Minute)}
		c.Endpoints[1].Retry.MaxAttempts = 1
	})
	h.east.SetFaults(upstreamsim.Faults{ErrorRate: 1})
	if status, _, _ := h.post("/m/gpt/v1/chat/completions", chatBody); status != 500 {
		t.Fatalf("status = %d, want 500", status)
	}
	h.east.SetFaults(upstreamsim.Faults{})
	if status, hdr, _ := h.post("/m/gpt/v1/chat/completions", chatBody); status != 503 || hdr.Get(guard.HeaderReason) != guard.ReasonCircuitOpen {
		t.Fatalf("while open: %d %q, want 503 circuit_open", status, hdr.Get(guard.HeaderReason))
	}
	clock.Step(time.Minute)
	// No request has arrived since the open duration passed: the scrape itself must show it.
	if line := `breakwater_guard_circuit_state{endpoint="gpt",target="primary"} 2`; !strings.Contains(h.scrape(), line) {
		t.Errorf("scrape after openDuration without traffic lacks %s (half-open)", line)
	}
	if status, _, _ := h.post("/m/gpt/v1/chat/completions", chatBody); status != 200 {
		t.Fatalf("probe after openDuration: %d, want 200", status)
	}
	if got := h.value(h.m.CircuitState.WithLabelValues("gpt", "primary")); got != metrics.CircuitClosed {
		t.Errorf("circuit_state = %g, want closed after a good probe", got)
	}
}

// A throttle moves the request to the next target at once and outside the retry budget; a 5xx
// retry needs the budget. With no budget at all, throttled requests are all served by the fallback
// and failing ones are not retried.
func TestThrottleFailoverIsOutsideTheRetryBudget(t *testing.T) {
	h := newHarness(t, func(c *guardconfig.Config) {
		ratio, none := 0.0, 0
		c.Endpoints[0].Retry.BudgetRatio, c.Endpoints[0].Retry.MinRetries = &ratio, &none
	})
	h.east.SetFaults(upstreamsim.Faults{ThrottleRate: 1})
	for range 5 {
		if status, hdr, _ := h.post("/m/claude/model/x/converse", converseBody); status != 200 || hdr.Get(guard.HeaderTarget) != "west" {
			t.Fatalf("throttled on east: %d via %q, want 200 via the fallback west", status, hdr.Get(guard.HeaderTarget))
		}
	}
	h.east.SetFaults(upstreamsim.Faults{ErrorRate: 1})
	status, hdr, _ := h.post("/m/claude/model/x/converse", converseBody)
	if status != 500 || hdr.Get(guard.HeaderReason) != guard.ReasonRetryBudgetExhausted {
		t.Errorf("failing on east with no budget: %d %q, want 500 retry_budget_exhausted", status, hdr.Get(guard.HeaderReason))
	}
	if n := h.west.Stats().Requests["bedrock.converse"]; n != 5 {
		t.Errorf("west saw %d requests, want the 5 throttled ones only", n)
	}
}
