package guard_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/smithy-go"

	"github.com/breakwater-dev/breakwater/internal/guard"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/metrics"
	"github.com/breakwater-dev/breakwater/test/redistest"
	"github.com/breakwater-dev/breakwater/test/upstreamsim"
)

// A request past a quota's limit is refused before any upstream call, in the provider's shape,
// with a Retry-After the SDKs honour, and counted by quota, mode and result.
func TestAdmissionRefusesPastTheLimit(t *testing.T) {
	h := newHarness(t, func(c *guardconfig.Config) {
		c.Workload.Criticality = guardconfig.Critical
		// One reservation (the estimate plus the clamp of 100) fits, settled to its usage; the
		// request limit of 2 per minute refuses the third.
		c.Admission.Quotas = []guardconfig.AdmissionQuota{{Namespace: "shop", Name: "bedrock", Endpoints: []string{"claude"},
			TokensPerMinute: 120, RequestsPerMinute: 2}}
	})
	for i := range 2 {
		if status, hdr, _ := h.post("/m/claude/model/x/converse", converseBody); status != 200 {
			t.Fatalf("request %d: %d %s, want 200", i, status, hdr.Get(guard.HeaderReason))
		}
	}
	status, hdr, _ := h.post("/m/claude/model/x/converse", converseBody)
	if status != 429 || hdr.Get(guard.HeaderReason) != guard.ReasonAdmissionExhausted || hdr.Get("X-Amzn-ErrorType") != "ThrottlingException" ||
		hdr.Get("Retry-After") != "1" || hdr.Get(guard.HeaderShouldRetry) != "" {
		t.Fatalf("third request in the minute: %d %v", status, hdr)
	}
	if got := h.east.Stats().Requests[upstreamsim.RouteBedrockConverse]; got != 2 {
		t.Errorf("upstream saw %d requests, want 2: the refusal made no call", got)
	}
	for result, want := range map[string]float64{metrics.AdmissionAdmitted: 2, metrics.AdmissionRefusedLimit: 1} {
		if got := h.value(h.m.AdmissionDecisions.WithLabelValues("shop/bedrock", metrics.AdmissionModeLocal, result)); got != want {
			t.Errorf("admission decisions {local, %s} = %g, want %g", result, got, want)
		}
	}
}

// With a store, guards share the budget; a provider throttling below the configured limit lowers
// the learned share, shown as a metric.
func TestAdmissionSharedLearnsAProviderLimit(t *testing.T) {
	addr := redistest.Start(t)
	quota := guardconfig.AdmissionQuota{Namespace: "shop", Name: "bedrock", Endpoints: []string{"claude"}, TokensPerMinute: 100_000}
	cfg := func(c *guardconfig.Config) {
		c.Admission = guardconfig.Admission{
			Store:  &guardconfig.AdmissionStore{Addresses: []string{addr}, Timeout: guardconfig.Duration(time.Second)},
			Quotas: []guardconfig.AdmissionQuota{quota},
		}
		c.Endpoints[0].Targets = c.Endpoints[0].Targets[:1] // no fallback: the throttle reaches the app
		c.Endpoints[0].Retry.MaxAttempts = 1
	}
	a, b := newHarness(t, cfg), newHarness(t, cfg)
	a.east.SetQuota(upstreamsim.Quota{RequestsPerMinute: 3}) // the account allows far less than the TokenQuota says
	ctx := context.Background()
	throttled := 0
	for i := 0; i < 10; i++ {
		_, err := a.bedrock().Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String("m"), Messages: userMessage()})
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorCode() == "ThrottlingException" {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("the provider quota never throttled")
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.value(a.m.AdmissionLearnedShare.WithLabelValues("shop/bedrock")) == 0 || a.value(a.m.AdmissionLearnedShare.WithLabelValues("shop/bedrock")) >= 1 {
		if time.Now().After(deadline) {
			t.Fatalf("learned share still %g after %d provider throttles", a.value(a.m.AdmissionLearnedShare.WithLabelValues("shop/bedrock")), throttled)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The other guard learns it from the store with its next reservation.
	b.post("/m/claude/model/x/converse", converseBody)
	if got := b.value(b.m.AdmissionLearnedShare.WithLabelValues("shop/bedrock")); got <= 0 || got >= 1 {
		t.Errorf("the second guard's learned share = %g, want the first guard's %g", got, a.value(a.m.AdmissionLearnedShare.WithLabelValues("shop/bedrock")))
	}
	if got := a.value(a.m.AdmissionStoreUp); got != 1 {
		t.Errorf("store up = %g, want 1", got)
	}
	t.Logf("%d provider throttles of 10; learned share %.3f", throttled, a.value(a.m.AdmissionLearnedShare.WithLabelValues("shop/bedrock")))
}

// The store's AUTH password comes from a mounted Secret file.
func TestAdmissionStoreWithAUTH(t *testing.T) {
	srv := redistest.StartServer(t, "--requirepass", "store-secret")
	file := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(file, []byte("store-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *guardconfig.Config) {
		c.Admission = guardconfig.Admission{
			Store: &guardconfig.AdmissionStore{Addresses: []string{srv.Addr}, PasswordFile: file, Timeout: guardconfig.Duration(time.Second)},
			Quotas: []guardconfig.AdmissionQuota{{Namespace: "shop", Name: "bedrock", Endpoints: []string{"claude"},
				TokensPerMinute: 100_000}},
		}
	})
	if status, hdr, _ := h.post("/m/claude/model/x/converse", converseBody); status != 200 {
		t.Fatalf("%d %s", status, hdr.Get(guard.HeaderReason))
	}
	if got := h.value(h.m.AdmissionDecisions.WithLabelValues("shop/bedrock", metrics.AdmissionModeShared, metrics.AdmissionAdmitted)); got != 1 {
		t.Errorf("shared admissions = %g, want 1: the guard did not reach the store with its password", got)
	}
}

// A throttle that a fallback target made up for is that target's shortage, not the quota's: the
// learned share stays whole.
func TestAdmissionIgnoresThrottlesAFallbackServed(t *testing.T) {
	addr := redistest.Start(t)
	h := newHarness(t, func(c *guardconfig.Config) {
		c.Admission = guardconfig.Admission{
			Store:  &guardconfig.AdmissionStore{Addresses: []string{addr}, Timeout: guardconfig.Duration(time.Second)},
			Quotas: []guardconfig.AdmissionQuota{{Namespace: "shop", Name: "bedrock", Endpoints: []string{"claude"}, TokensPerMinute: 100_000}},
		}
	})
	h.east.SetQuota(upstreamsim.Quota{RequestsPerMinute: 1})
	for i := range 5 {
		if status, hdr, _ := h.post("/m/claude/model/x/converse", converseBody); status != 200 {
			t.Fatalf("request %d: %d %s, want 200 from the fallback", i, status, hdr.Get(guard.HeaderReason))
		}
	}
	if h.east.Stats().QuotaThrottled == 0 {
		t.Fatal("us-east-1 never throttled")
	}
	time.Sleep(100 * time.Millisecond) // a lowered share would be reported asynchronously
	// The gauge is set only when the share changes; 0 here means it never did.
	if got := h.value(h.m.AdmissionLearnedShare.WithLabelValues("shop/bedrock")); got != 0 {
		t.Errorf("learned share reported %g after throttles the fallback served, want no change", got)
	}
}
