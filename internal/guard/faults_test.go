package guard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/breakwater-dev/breakwater/internal/guard"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/metrics"
	"github.com/breakwater-dev/breakwater/test/upstreamsim"
)

func TestLimitsAndQuotaFailFast(t *testing.T) {
	big := strings.Repeat("a", 70<<10)
	longPrompt := strings.Repeat("word ", 1000) // ~1250 estimated tokens, above claude's 1000
	tests := []struct {
		name       string
		modify     func(c *guardconfig.Config)
		path, body string
		wantStatus int
		wantReason string
		wantType   string // x-amzn-ErrorType, or the OpenAI error code
	}{
		{"request too large", nil, "/m/claude/model/x/converse", `{"messages":[{"role":"user","content":[{"text":"` + big + `"}]}]}`,
			413, guard.ReasonRequestTooLarge, "ValidationException"},
		{"prompt too large", nil, "/m/claude/model/x/converse", `{"messages":[{"role":"user","content":[{"text":"` + longPrompt + `"}]}]}`,
			400, guard.ReasonPromptTooLarge, "ValidationException"},
		{"malformed body", nil, "/m/claude/model/x/converse", `{"messages":`, 400, guard.ReasonInvalidRequest, "ValidationException"},
		{"unknown endpoint", nil, "/m/nope/v1/chat/completions", chatBody, 404, guard.ReasonUnknownRoute, "unknown_route"},
		{"unknown operation", nil, "/m/gpt/v1/completions", chatBody, 404, guard.ReasonUnknownRoute, "unknown_route"},
		{"unknown endpoint on a Bedrock path", nil, "/m/nope/model/x/converse", converseBody, 404, guard.ReasonUnknownRoute, "ResourceNotFoundException"},
		{"unknown Bedrock operation", nil, "/m/claude/model/x/count-tokens", converseBody, 404, guard.ReasonUnknownRoute, "ResourceNotFoundException"},
		{"Bedrock SDK at an OpenAI endpoint", nil, "/m/gpt/model/x/converse", converseBody, 404, guard.ReasonProtocolMismatch, "ResourceNotFoundException"},
		{"OpenAI SDK at a Bedrock endpoint", nil, "/m/claude/v1/chat/completions", chatBody, 404, guard.ReasonProtocolMismatch, "protocol_mismatch"},
		{"quota shedding a sheddable workload", func(c *guardconfig.Config) {
			c.Workload.Criticality = guardconfig.Sheddable
			c.Quota.State = guardconfig.QuotaShedding
		}, "/m/gpt/v1/chat/completions", chatBody, 429, guard.ReasonQuotaShed, "quota_shed"},
		{"quota exhausted for a standard workload", func(c *guardconfig.Config) {
			c.Quota.State = guardconfig.QuotaExhausted
		}, "/m/claude/model/x/converse", converseBody, 429, guard.ReasonQuotaExhausted, "ThrottlingException"},
		{"admission: a sheddable workload above the quota's shed threshold", func(c *guardconfig.Config) {
			c.Workload.Criticality = guardconfig.Sheddable
			c.Admission.Quotas = []guardconfig.AdmissionQuota{{Namespace: "shop", Name: "tpm", Endpoints: []string{"claude"}, TokensPerMinute: 110}}
		}, "/m/claude/model/x/converse", converseBody, 429, guard.ReasonAdmissionShed, "ThrottlingException"},
		{"local token allowance used up", func(c *guardconfig.Config) {
			c.Quota.TokensPerMinute = 50 // below the estimate plus the clamp of 100 output tokens
		}, "/m/gpt/v1/chat/completions", chatBody, 429, guard.ReasonQuotaExhausted, "quota_exhausted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.modify)
			status, hdr, body := h.post(tt.path, tt.body)
			got := []any{status, hdr.Get(guard.HeaderReason)}
			if diff := cmp.Diff([]any{tt.wantStatus, tt.wantReason}, got); diff != "" {
				t.Errorf("status and reason (-want +got):\n%s", diff)
			}
			// Nothing in this table passes on a retry a moment later: the OpenAI SDKs must not try.
			if got := hdr.Get(guard.HeaderShouldRetry); got != "false" {
				t.Errorf("%s = %q, want false", guard.HeaderShouldRetry, got)
			}
			errType := hdr.Get("X-Amzn-ErrorType")
			if errType == "" {
				var v struct {
					Error struct{ Code string } `json:"error"`
				}
				_ = json.Unmarshal([]byte(body), &v)
				errType = v.Error.Code
			}
			if errType != tt.wantType {
				t.Errorf("error type = %q, want %q (body %s)", errType, tt.wantType, body)
			}
			endpoint := strings.Split(tt.path, "/")[2]
			if tt.wantReason == guard.ReasonUnknownRoute && endpoint == "nope" {
				endpoint = ""
			}
			if got := h.value(h.m.RejectionsTotal.WithLabelValues(endpoint, tt.wantReason)); got != 1 {
				t.Errorf("rejections_total{reason=%s} = %g, want 1", tt.wantReason, got)
			}
			if n := sum(h.east.Stats().Requests); n != 0 {
				t.Errorf("the upstream saw %d requests; a fail-fast check must not call it", n)
			}
		})
	}
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func TestCriticalWorkloadPassesExhaustedQuota(t *testing.T) {
	h := newHarness(t, func(c *guardconfig.Config) {
		c.Workload.Criticality = guardconfig.Critical
		c.Quota.State = guardconfig.QuotaExhausted
	})
	if status, _, _ := h.post("/m/gpt/v1/chat/completions", chatBody); status != 200 {
		t.Errorf("status = %d, want 200 for a critical workload", status)
	}
}

func TestOutputTokensClamped(t *testing.T) {
	h := newHarness(t, func(c *guardconfig.Config) { c.Endpoints[1].Limits.MaxOutputTokens = 3 })
	client := h.openai()
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "m", MaxTokens: openai.Int(500), Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Usage.CompletionTokens != 3 {
		t.Errorf("completion tokens = %d, want the clamp of 3", resp.Usage.CompletionTokens)
	}
}

func TestUpstreamFaults(t *testing.T) {
	tests := []struct {
		name         string
		modify       func(c *guardconfig.Config)
		faults       upstreamsim.Faults
		path, body   string
		wantStatus   int
		wantReason   string
		wantUpstream int64 // requests the simulator saw
		wantOutcome  string
	}{
		{"throttled: bounded retries, then the provider's 429", nil, upstreamsim.Faults{ThrottleRate: 1},
			"/m/gpt/v1/chat/completions", chatBody, 429, guard.ReasonUpstreamThrottled, 3, metrics.OutcomeThrottled},
		{"server errors: bounded retries, then the provider's 500", nil, upstreamsim.Faults{ErrorRate: 1},
			"/m/gpt/v1/chat/completions", chatBody, 500, guard.ReasonUpstreamError, 3, metrics.OutcomeUpstreamError},
		{"Retry-After above the bound: no retry", nil, upstreamsim.Faults{ThrottleRate: 1, RetryAfter: 10 * time.Second},
			"/m/gpt/v1/chat/completions", chatBody, 429, guard.ReasonUpstreamThrottled, 1, metrics.OutcomeThrottled},
		{"connection resets: retried, then 503", nil, upstreamsim.Faults{ResetRate: 1},
			"/m/gpt/v1/chat/completions", chatBody, 503, guard.ReasonUpstreamUnavailable, 3, metrics.OutcomeUpstreamError},
		{"slow upstream: request timeout", func(c *guardconfig.Config) {
			c.Endpoints[1].Timeouts.Request = guardconfig.Duration(300 * time.Millisecond)
		}, upstreamsim.Faults{Latency: 3 * time.Second},
			"/m/gpt/v1/chat/completions", chatBody, 504, guard.ReasonUpstreamTimeout, 1, metrics.OutcomeTimeout},
		{"no first token: retried, then first_token_timeout", func(c *guardconfig.Config) {
			c.Endpoints[1].Timeouts.FirstToken = guardconfig.Duration(150 * time.Millisecond)
		}, upstreamsim.Faults{FirstTokenDelay: 3 * time.Second},
			"/m/gpt/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			504, guard.ReasonFirstTokenTimeout, 3, metrics.OutcomeTimeout},
		{"Bedrock throttled in the only region", func(c *guardconfig.Config) {
			c.Endpoints[0].Targets = c.Endpoints[0].Targets[:1]
		}, upstreamsim.Faults{ThrottleRate: 1},
			"/m/claude/model/x/converse", converseBody, 429, guard.ReasonUpstreamThrottled, 3, metrics.OutcomeThrottled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.modify)
			h.east.SetFaults(tt.faults)
			status, hdr, _ := h.post(tt.path, tt.body)
			got := []any{status, hdr.Get(guard.HeaderReason), sum(h.east.Stats().Requests)}
			if diff := cmp.Diff([]any{tt.wantStatus, tt.wantReason, tt.wantUpstream}, got); diff != "" {
				t.Errorf("status, reason, upstream requests (-want +got):\n%s", diff)
			}
			endpoint := strings.Split(tt.path, "/")[2]
			target := "primary"
			if endpoint == "claude" {
				target = "east"
			}
			if got := h.value(h.m.RequestsTotal.WithLabelValues(endpoint, target, tt.wantOutcome)); got != 1 {
				t.Errorf("requests_total{outcome=%s} = %g, want 1", tt.wantOutcome, got)
			}
			if got := h.value(h.m.RetriesTotal.WithLabelValues(endpoint, target)); got != float64(tt.wantUpstream-1) {
				t.Errorf("retries_total = %g, want %d", got, tt.wantUpstream-1)
			}
		})
	}
}

func TestResetRetried(t *testing.T) {
	h := newHarness(t, nil)
	h.east.SetFaults(upstreamsim.Faults{ResetRate: 0.5})
	for i := range 2 {
		if status, _, _ := h.post("/m/gpt/v1/chat/completions", chatBody); status != 200 {
			t.Errorf("request %d: status %d, want 200 after a retry", i, status)
		}
	}
	st := h.east.Stats()
	if got := []int64{st.Resets, sum(st.Requests)}; !cmp.Equal(got, []int64{1, 3}) {
		t.Errorf("resets, upstream requests = %v, want [1 3]", got)
	}
	if got := h.value(h.m.RetriesTotal.WithLabelValues("gpt", "primary")); got != 1 {
		t.Errorf("retries_total = %g, want 1", got)
	}
}

func TestRetryBudgetUnderTotalFailure(t *testing.T) {
	h := newHarness(t, func(c *guardconfig.Config) {
		ratio, minRetries := 0.1, 2
		c.Endpoints[1].Retry.BudgetRatio, c.Endpoints[1].Retry.MinRetries = &ratio, &minRetries
		c.Endpoints[1].Retry.BudgetWindow = guardconfig.Duration(time.Minute)
	})
	h.east.SetFaults(upstreamsim.Faults{ErrorRate: 1})
	const requests = 30
	reasons := map[string]int{}
	for range requests {
		status, hdr, _ := h.post("/m/gpt/v1/chat/completions", chatBody)
		if status != 500 {
			t.Fatalf("status = %d, want the upstream's 500", status)
		}
		reasons[hdr.Get(guard.HeaderReason)]++
	}
	retries := h.value(h.m.RetriesTotal.WithLabelValues("gpt", "primary"))
	// The budget allows max(minRetries, ratio × requests in the window) = max(2, 0.1 × 30) = 3.
	if retries < 1 || retries > 3 {
		t.Errorf("retries = %g for %d failing requests, want 1..3 (the budget)", retries, requests)
	}
	if got := sum(h.east.Stats().Requests); got != requests+int64(retries) {
		t.Errorf("upstream saw %d requests, want %d + %g retries", got, requests, retries)
	}
	if reasons[guard.ReasonRetryBudgetExhausted] == 0 {
		t.Errorf("no answer said retry_budget_exhausted: %v", reasons)
	}
	if got := h.value(h.m.RejectionsTotal.WithLabelValues("gpt", guard.ReasonRetryBudgetExhausted)); got != float64(reasons[guard.ReasonRetryBudgetExhausted]) {
		t.Errorf("rejections_total{retry_budget_exhausted} = %g, want %d", got, reasons[guard.ReasonRetryBudgetExhausted])
	}
}

func TestFailoverToSecondRegionWhileFirstThrottles(t *testing.T) {
	h := newHarness(t, nil)
	h.east.SetFaults(upstreamsim.Faults{ThrottleRate: 1})
	client := h.bedrock()
	for i := range 3 {
		out, err := client.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String("app-model"), Messages: userMessage()})
		if err != nil {
			t.Fatalf("request %d: Converse: %v", i, err)
		}
		if out.Usage == nil {
			t.Fatal("no usage")
		}
	}
	west := h.west.Stats()
	if west.Requests["bedrock.converse"] != 3 || west.LastModelID != modelWest {
		t.Errorf("west saw %v with model %q, want 3 converse calls for %q", west.Requests, west.LastModelID, modelWest)
	}
	checkSigned(t, h.west, "us-west-2")
	if got := h.value(h.m.FallbacksTotal.WithLabelValues("claude", "east", "west")); got != 3 {
		t.Errorf("fallbacks_total{east->west} = %g, want 3", got)
	}
	if got := h.value(h.m.RequestsTotal.WithLabelValues("claude", "west", metrics.OutcomeSuccess)); got != 3 {
		t.Errorf("requests_total{west,success} = %g, want 3", got)
	}
	// The app saw three successes; the attempts show that east throttled every one of them, which
	// is what the manager's failover trigger must see.
	if got := h.value(h.m.AttemptsTotal.WithLabelValues("claude", "east", metrics.OutcomeThrottled)); got != 3 {
		t.Errorf("upstream_attempts_total{east,throttled} = %g, want 3", got)
	}
	if got := h.value(h.m.AttemptsTotal.WithLabelValues("claude", "west", metrics.OutcomeSuccess)); got != 3 {
		t.Errorf("upstream_attempts_total{west,success} = %g, want 3", got)
	}
	if got := h.value(h.m.TokensTotal.WithLabelValues("claude", "west", "output")); got == 0 {
		t.Error("tokens were not counted on the target that answered")
	}
}

func TestCircuitBreakerOpensAndSurvivesReload(t *testing.T) {
	h := newHarness(t, func(c *guardconfig.Config) {
		c.Endpoints[1].Breaker = guardconfig.Breaker{ConsecutiveFailures: 2, MinRequests: 100, OpenDuration: guardconfig.Duration(time.Hour)}
		c.Endpoints[1].Retry.MaxAttempts = 1
	})
	h.east.SetFaults(upstreamsim.Faults{ErrorRate: 1})
	for range 2 {
		if status, _, _ := h.post("/m/gpt/v1/chat/completions", chatBody); status != 500 {
			t.Fatalf("status = %d, want 500 while the breaker is closed", status)
		}
	}
	if got := h.value(h.m.CircuitState.WithLabelValues("gpt", "primary")); got != metrics.CircuitOpen {
		t.Fatalf("circuit_state = %g, want open (1)", got)
	}
	// A reload that changes something else must not close the breaker.
	h.cfg.Endpoints[1].Limits.MaxOutputTokens = 50
	h.load(h.cfg)
	h.east.ResetStats()
	status, hdr, body := h.post("/m/gpt/v1/chat/completions", chatBody)
	if status != 503 || hdr.Get(guard.HeaderReason) != guard.ReasonCircuitOpen {
		t.Errorf("after reload: %d %q, want 503 circuit_open", status, hdr.Get(guard.HeaderReason))
	}
	// The breaker opened moments ago for an hour: come back then, not in a few milliseconds.
	if got := hdr.Get("Retry-After"); got != "3600" {
		t.Errorf("Retry-After = %q, want 3600 (the breaker's open time left, rounded up)", got)
	}
	if got := hdr.Get(guard.HeaderShouldRetry); got != "" {
		t.Errorf("%s = %q on circuit_open, want unset (it passes after Retry-After)", guard.HeaderShouldRetry, got)
	}
	if !strings.Contains(body, `"code":"circuit_open"`) {
		t.Errorf("body is not an OpenAI error: %s", body)
	}
	if n := sum(h.east.Stats().Requests); n != 0 {
		t.Errorf("upstream saw %d requests with the breaker open", n)
	}
	if got := h.value(h.m.RequestsTotal.WithLabelValues("gpt", "", metrics.OutcomeRejected)); got != 1 {
		t.Errorf("requests_total{target=\"\",outcome=rejected} = %g, want 1 (counted once)", got)
	}
	if got := h.value(h.m.RejectionsTotal.WithLabelValues("gpt", guard.ReasonCircuitOpen)); got != 1 {
		t.Errorf("rejections_total{circuit_open} = %g, want 1", got)
	}
}

func TestStreamProtections(t *testing.T) {
	streamBody := `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`

	t.Run("no retry after the first streamed byte", func(t *testing.T) {
		h := newHarness(t, func(c *guardconfig.Config) {
			c.Endpoints[1].Timeouts.StreamIdle = guardconfig.Duration(200 * time.Millisecond)
		})
		h.east.SetFaults(upstreamsim.Faults{StallAfterEvents: 2})
		status, hdr, body := h.post("/m/gpt/v1/chat/completions", streamBody)
		if status != 200 || !strings.Contains(body, "data: ") {
			t.Fatalf("status %d, body %q: want the started stream", status, body)
		}
		if got := hdr.Get(guard.HeaderReason); got != guard.ReasonStreamIdleTimeout {
			t.Errorf("trailer %s = %q, want %s", guard.HeaderReason, got, guard.ReasonStreamIdleTimeout)
		}
		if got := hdr.Get("Trailer"); got != guard.HeaderReason {
			t.Errorf("Trailer header = %q, want the reason trailer announced before the stream", got)
		}
		if n := sum(h.east.Stats().Requests); n != 1 {
			t.Errorf("upstream saw %d requests, want 1: no retry once bytes reached the app", n)
		}
		if got := h.value(h.m.RequestsTotal.WithLabelValues("gpt", "primary", metrics.OutcomeTimeout)); got != 1 {
			t.Errorf("requests_total{outcome=timeout} = %g, want 1", got)
		}
		if got := h.value(h.m.RetriesTotal.WithLabelValues("gpt", "primary")); got != 0 {
			t.Errorf("retries_total = %g, want 0", got)
		}
	})

	t.Run("a held-open stream delivers its first event at once", func(t *testing.T) {
		h := newHarness(t, nil) // stream idle timeout 10s: only an unbuffered relay gets the event out
		h.east.SetFaults(upstreamsim.Faults{StallAfterEvents: 1})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		client := h.openai()
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
		if !stream.Next() {
			t.Fatalf("no first event: %v", stream.Err())
		}
		if c := stream.Current(); len(c.Choices) == 0 {
			t.Errorf("first event has no choices")
		}
		cancel()
		_ = stream.Close()
	})
}

func TestRetrieval(t *testing.T) {
	t.Run("opensearch documents capped", func(t *testing.T) {
		h := newHarness(t, nil)
		status, hdr, body := h.post("/r/docs/my-index/_search", `{"size":40,"query":{"match_all":{}}}`)
		var v struct {
			Hits struct {
				Hits []json.RawMessage `json:"hits"`
			} `json:"hits"`
		}
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("%d %s: %v", status, body, err)
		}
		if got := []any{status, hdr.Get(guard.HeaderReason), len(v.Hits.Hits)}; !cmp.Equal(got, []any{200, guard.ReasonDocumentsCapped, 5}) {
			t.Errorf("status, reason, hits = %v, want 200 documents_capped 5", got)
		}
		if got := h.value(h.m.DocumentsCapped.WithLabelValues("docs")); got != 1 {
			t.Errorf("documents_capped_total = %g", got)
		}
	})
	t.Run("generic search capped", func(t *testing.T) {
		h := newHarness(t, nil)
		status, _, body := h.post("/r/kb/search", `{"query":"q","top_k":25}`)
		var v struct {
			Results []json.RawMessage `json:"results"`
		}
		if err := json.Unmarshal([]byte(body), &v); err != nil || status != 200 {
			t.Fatalf("%d %s: %v", status, body, err)
		}
		if len(v.Results) != 3 {
			t.Errorf("results = %d, want the cap of 3", len(v.Results))
		}
	})
	t.Run("failing backend degrades to an empty result", func(t *testing.T) {
		h := newHarness(t, nil)
		h.east.SetFaults(upstreamsim.Faults{ErrorRate: 1})
		status, hdr, body := h.post("/r/docs/_search", `{"query":{"match_all":{}}}`)
		if status != 200 || hdr.Get(guard.HeaderDegraded) != "empty" || !strings.Contains(body, `"hits":[]`) {
			t.Errorf("got %d degraded=%q %s, want an empty 200", status, hdr.Get(guard.HeaderDegraded), body)
		}
		if got := h.value(h.m.RetrievalDegraded.WithLabelValues("docs", "empty")); got != 1 {
			t.Errorf("retrieval_degraded_total = %g, want 1", got)
		}
	})
	t.Run("failing backend with onFailure fail", func(t *testing.T) {
		h := newHarness(t, nil)
		h.east.SetFaults(upstreamsim.Faults{ErrorRate: 1})
		status, hdr, _ := h.post("/r/kb/search", `{"query":"q"}`)
		if status != 503 || hdr.Get(guard.HeaderReason) != guard.ReasonUpstreamError {
			t.Errorf("got %d %q, want 503 upstream_error", status, hdr.Get(guard.HeaderReason))
		}
	})
	t.Run("cache serves the last good answer", func(t *testing.T) {
		h := newHarness(t, func(c *guardconfig.Config) { c.RetrievalBackends[1].OnFailure = guardconfig.Cache })
		_, _, good := h.post("/r/kb/search", `{"query":"q"}`)
		h.east.SetFaults(upstreamsim.Faults{ErrorRate: 1})
		status, hdr, body := h.post("/r/kb/search", `{"query":"q"}`)
		if status != 200 || hdr.Get(guard.HeaderDegraded) != "cache" || body != good {
			t.Errorf("got %d degraded=%q, want the cached answer", status, hdr.Get(guard.HeaderDegraded))
		}
	})
	t.Run("oversized answer refused", func(t *testing.T) {
		h := newHarness(t, func(c *guardconfig.Config) { c.RetrievalBackends[1].MaxResponseBytes = 1024 })
		h.east.SetFaults(upstreamsim.Faults{OversizedBody: 4096})
		status, hdr, _ := h.post("/r/kb/search", `{"query":"q"}`)
		if status != 502 || hdr.Get(guard.HeaderReason) != guard.ReasonResponseTooLarge {
			t.Errorf("got %d %q, want 502 response_too_large", status, hdr.Get(guard.HeaderReason))
		}
	})
}

func TestReadinessAndBadConfig(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.Register(reg)
	g := guard.New(guard.Options{Metrics: m})
	srv := httptest.NewServer(g)
	defer srv.Close()
	admin := httptest.NewServer(g.Admin(reg))
	defer admin.Close()

	get := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(admin.URL + "/readyz"); got != 503 {
		t.Errorf("readyz before a config = %d, want 503", got)
	}
	if got := get(admin.URL + "/healthz"); got != 200 {
		t.Errorf("healthz = %d", got)
	}
	resp, err := http.Post(srv.URL+"/m/x/v1/chat/completions", "application/json", strings.NewReader(chatBody))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get(guard.HeaderReason) != guard.ReasonNotReady {
		t.Errorf("before a config: %d %q, want 503 not_ready", resp.StatusCode, resp.Header.Get(guard.HeaderReason))
	}
	if err := g.Load([]byte(`{"apiVersion":"guard.breakwater.dev/v1alpha1"}`)); err == nil {
		t.Error("an invalid config was accepted")
	}
	if get(admin.URL+"/readyz") != 503 || testutil.ToFloat64(m.ConfigReloads.WithLabelValues("failure")) != 1 {
		t.Error("a refused config must leave the guard unready and be counted")
	}
	good := `{"apiVersion":"guard.breakwater.dev/v1alpha1","workload":{"namespace":"a","name":"b"},
		"endpoints":[{"name":"x","provider":"openai","targets":[{"name":"t","weight":1,"url":"http://127.0.0.1:1/v1"}]}]}`
	if err := g.Load([]byte(good)); err != nil {
		t.Fatal(err)
	}
	if err := g.Load([]byte(`{"apiVersion":"guard.breakwater.dev/v1alpha1","workload":{}}`)); err == nil {
		t.Error("an invalid config was accepted")
	}
	if get(admin.URL+"/readyz") != 200 {
		t.Error("the last good config must stay in force after a refused one")
	}
	want := map[string]float64{"success": 1, "failure": 2}
	got := map[string]float64{
		"success": testutil.ToFloat64(m.ConfigReloads.WithLabelValues("success")),
		"failure": testutil.ToFloat64(m.ConfigReloads.WithLabelValues("failure")),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config_reloads_total (-want +got):\n%s", diff)
	}
}

func TestReloadUnderLoadLosesNoRequest(t *testing.T) {
	h := newHarness(t, nil)
	const workers, perWorker, reloads = 4, 25, 20
	var wg sync.WaitGroup
	statuses := make(chan int, workers*perWorker)
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				path, body := "/m/claude/model/x/converse", converseBody
				if (w+i)%2 == 1 {
					path, body = "/m/gpt/v1/chat/completions", chatBody
				}
				req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(body))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				resp.Body.Close()
				statuses <- resp.StatusCode
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range reloads {
			c := h.baseConfig()
			// Shift the weight back and forth and change limits, as the manager would.
			c.Endpoints[0].Targets[0].Weight, c.Endpoints[0].Targets[1].Weight = 100-i%2*100+i%2, i%2*99
			c.Endpoints[1].Limits.MaxOutputTokens = int64(50 + i)
			data, _ := json.Marshal(c)
			if err := h.g.Load(data); err != nil {
				errs <- fmt.Errorf("reload %d: %w", i, err)
			}
		}
	}()
	wg.Wait()
	<-done
	close(statuses)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	if diff := cmp.Diff(map[int]int{200: workers * perWorker}, counts); diff != "" {
		t.Errorf("answers by status (-want +got):\n%s", diff)
	}
	var successes float64
	for _, ep := range [][2]string{{"claude", "east"}, {"claude", "west"}, {"gpt", "primary"}} {
		successes += h.value(h.m.RequestsTotal.WithLabelValues(ep[0], ep[1], metrics.OutcomeSuccess))
	}
	if successes != workers*perWorker {
		t.Errorf("requests_total{outcome=success} = %g, want %d: every request accounted for", successes, workers*perWorker)
	}
	if got := h.value(h.m.ConfigReloads.WithLabelValues("success")); got != reloads+1 {
		t.Errorf("config_reloads_total{success} = %g, want %d", got, reloads+1)
	}
}

func TestBedrockStreamProtections(t *testing.T) {
	t.Run("held-open ConverseStream delivers its first event at once", func(t *testing.T) {
		h := newHarness(t, nil)
		h.east.SetFaults(upstreamsim.Faults{StallAfterEvents: 1})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		out, err := h.bedrock().ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String("m"), Messages: userMessage()})
		if err != nil {
			t.Fatalf("ConverseStream: %v", err)
		}
		stream := out.GetStream()
		if _, ok := <-stream.Events(); !ok {
			t.Fatalf("no first event: %v", stream.Err())
		}
		cancel()
		stream.Close()
	})
	t.Run("first-token timeout fails over to the second region", func(t *testing.T) {
		h := newHarness(t, func(c *guardconfig.Config) {
			// Generous: the healthy region must always beat it, even under -race on a busy machine.
			c.Endpoints[0].Timeouts.FirstToken = guardconfig.Duration(time.Second)
		})
		h.east.SetFaults(upstreamsim.Faults{Latency: 10 * time.Second})
		out, err := h.bedrock().ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{ModelId: aws.String("m"), Messages: userMessage()})
		if err != nil {
			t.Fatalf("ConverseStream: %v", err)
		}
		stream := out.GetStream()
		for range stream.Events() {
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("stream: %v", err)
		}
		stream.Close()
		if got := h.west.Stats().Requests["bedrock.converse-stream"]; got != 1 {
			t.Errorf("west saw %d streams, want 1", got)
		}
		checkSigned(t, h.west, "us-west-2")
		if got := h.value(h.m.TokensTotal.WithLabelValues("claude", "west", "output")); got == 0 {
			t.Error("no tokens counted from the stream's metadata event")
		}
	})
	t.Run("exception inside the stream is passed through, not retried", func(t *testing.T) {
		h := newHarness(t, nil)
		h.east.SetFaults(upstreamsim.Faults{StreamErrorAfterEvents: 2})
		out, err := h.bedrock().ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{ModelId: aws.String("m"), Messages: userMessage()})
		if err != nil {
			t.Fatalf("ConverseStream: %v", err)
		}
		stream := out.GetStream()
		for range stream.Events() {
		}
		if stream.Err() == nil {
			t.Error("the app did not see the in-stream exception")
		}
		stream.Close()
		if got := sum(h.east.Stats().Requests) + sum(h.west.Stats().Requests); got != 1 {
			t.Errorf("upstreams saw %d requests, want 1", got)
		}
		if got := h.value(h.m.RequestsTotal.WithLabelValues("claude", "east", metrics.OutcomeStreamInterrupted)); got != 1 {
			t.Errorf("requests_total{stream_interrupted} = %g, want 1", got)
		}
	})
}
