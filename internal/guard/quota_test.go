package guard_test

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/breakwater-dev/breakwater/internal/guard"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/test/upstreamsim"
)

// TestQuotaChargedWithReportedUsage: the reservation (estimate + clamp) is replaced by the usage
// the provider reported, so the allowance is not drained by clamps that were never used.
func TestQuotaChargedWithReportedUsage(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Unix(1_800_000_000, 0))
	h := newHarnessWith(t, func(o *guard.Options) { o.Now = clock.Now }, func(c *guardconfig.Config) {
		c.Quota.TokensPerMinute = 150 // one reservation (~3 + 100 clamp) fits, two do not
	})
	for i := range 3 {
		if status, hdr, _ := h.post("/m/gpt/v1/chat/completions", chatBody); status != 200 {
			t.Fatalf("request %d: %d %s, want 200: settled usage (~20 tokens) leaves room", i, status, hdr.Get(guard.HeaderReason))
		}
	}
	// Each request used its reported usage; 150 - 3 × usage remains.
	used := h.value(h.m.TokensTotal.WithLabelValues("gpt", "primary", "input")) + h.value(h.m.TokensTotal.WithLabelValues("gpt", "primary", "output"))
	if got, want := h.value(h.m.QuotaAvailable), 150-used; got != want {
		t.Errorf("available tokens = %g, want %g (150 minus the reported usage)", got, want)
	}
}

// TestQuotaReleasedOnFailure: a request that got no answer gives its reservation back.
func TestQuotaReleasedOnFailure(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Unix(1_800_000_000, 0))
	h := newHarnessWith(t, func(o *guard.Options) { o.Now = clock.Now }, func(c *guardconfig.Config) {
		c.Quota.TokensPerMinute = 150
	})
	h.east.SetFaults(upstreamsim.Faults{ResetRate: 1})
	for range 3 {
		if status, _, _ := h.post("/m/gpt/v1/chat/completions", chatBody); status != 503 {
			t.Fatalf("status = %d, want 503 upstream_unavailable", status)
		}
	}
	if got := h.value(h.m.QuotaAvailable); got != 150 {
		t.Errorf("available tokens = %g, want all 150 back", got)
	}
}
