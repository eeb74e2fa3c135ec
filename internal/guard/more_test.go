package guard_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/breakwater-dev/breakwater/internal/guard"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/metrics"
	"github.com/breakwater-dev/breakwater/test/upstreamsim"
)

// TestSDKsParseGuardErrors checks that each SDK turns a guard-made error into its own typed error.
func TestSDKsParseGuardErrors(t *testing.T) {
	h := newHarness(t, func(c *guardconfig.Config) {
		c.Workload.Criticality = guardconfig.Sheddable
		c.Quota.State = guardconfig.QuotaShedding
	})
	ctx := context.Background()
	type result struct {
		Status int
		Code   string
	}
	awsResult := func(err error) result {
		var api smithy.APIError
		var resp *awshttp.ResponseError
		if !errors.As(err, &api) || !errors.As(err, &resp) {
			t.Fatalf("not an AWS API error: %v", err)
		}
		return result{resp.HTTPStatusCode(), api.ErrorCode()}
	}

	_, err := h.bedrock().Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String("m"), Messages: userMessage()})
	if diff := cmp.Diff(result{429, "ThrottlingException"}, awsResult(err)); diff != "" {
		t.Errorf("Bedrock error (-want +got):\n%s", diff)
	}
	_, err = h.sagemaker().InvokeEndpoint(ctx, &sagemakerruntime.InvokeEndpointInput{EndpointName: aws.String("e"), Body: []byte(`{}`)})
	if diff := cmp.Diff(result{429, "ThrottlingException"}, awsResult(err)); diff != "" {
		t.Errorf("SageMaker error (-want +got):\n%s", diff)
	}
	client := h.openai()
	_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var oe *openai.Error
	if !errors.As(err, &oe) {
		t.Fatalf("not an OpenAI error: %v", err)
	}
	if diff := cmp.Diff(result{429, guard.ReasonQuotaShed}, result{oe.StatusCode, oe.Code}); diff != "" {
		t.Errorf("OpenAI error (-want +got):\n%s", diff)
	}
	if got := h.value(h.m.RejectionsTotal.WithLabelValues("claude", guard.ReasonQuotaShed)); got != 1 {
		t.Errorf("rejections_total{claude,quota_shed} = %g, want 1", got)
	}
}

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
	if status, _, _ := h.post("/m/gpt/v1/chat/completions", chatBody); status != 200 {
		t.Fatalf("probe after openDuration: %d, want 200", status)
	}
	if got := h.value(h.m.CircuitState.WithLabelValues("gpt", "primary")); got != metrics.CircuitClosed {
		t.Errorf("circuit_state = %g, want closed after a good probe", got)
	}
}

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

// TestNoAWSCredentials: without credentials the guard answers at once instead of sending an unsigned request.
func TestNoAWSCredentials(t *testing.T) {
	h := newHarnessWith(t, func(o *guard.Options) { o.AWSCredentials = nil }, nil)
	status, hdr, _ := h.post("/m/claude/model/x/converse", converseBody)
	if status != 503 || hdr.Get(guard.HeaderReason) != guard.ReasonCredentials || hdr.Get("X-Amzn-ErrorType") != "ServiceUnavailableException" {
		t.Errorf("got %d %q %q, want 503 credentials_unavailable ServiceUnavailableException", status,
			hdr.Get(guard.HeaderReason), hdr.Get("X-Amzn-ErrorType"))
	}
	if n := sum(h.east.Stats().Requests) + sum(h.west.Stats().Requests); n != 0 {
		t.Errorf("upstreams saw %d requests", n)
	}
}

// TestMissingKeyFileRefused: a config whose key file cannot be read is refused like any bad config.
func TestMissingKeyFileRefused(t *testing.T) {
	h := newHarness(t, nil)
	c := h.baseConfig()
	c.Endpoints[1].Targets[0].APIKeyFile = "/nonexistent/api-key"
	data, _ := json.Marshal(c)
	err := h.g.Load(data)
	if err == nil || err.Error() != "endpoints[1].targets[0]: apiKeyFile: read /nonexistent/api-key: open /nonexistent/api-key: no such file or directory" {
		t.Errorf("Load error = %v", err)
	}
	if status, _, _ := h.post("/m/gpt/v1/chat/completions", chatBody); status != 200 {
		t.Errorf("status %d: the last good config must keep serving", status)
	}
	if got := h.value(h.m.ConfigReloads.WithLabelValues("failure")); got != 1 {
		t.Errorf("config_reloads_total{failure} = %g, want 1", got)
	}
}
