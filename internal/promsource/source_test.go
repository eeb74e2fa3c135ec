package promsource

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/common/model"

	"github.com/breakwater-dev/breakwater/internal/metrics"
)

// window of the queries under test: five scrapes at the harness' 1s interval.
const window = 5 * time.Second

// approx compares rates: each counter moves by a fixed step per scrape and Prometheus stamps
// scrapes on a fixed 1s grid, so rates are exact up to the grid's few milliseconds of tolerance.
var approx = cmpopts.EquateApprox(0.03, 1e-9)

// requests adds n requests of outcome to endpoint "claude" at target, each one upstream attempt (none when the
// guard refused the request before choosing a target), as a guard that neither retried nor fell back
// would count them.
func requests(m *metrics.Metrics, target, outcome string, n float64) {
	m.RequestsTotal.WithLabelValues("claude", target, outcome).Add(n)
	if target != "" {
		m.AttemptsTotal.WithLabelValues("claude", target, outcome).Add(n)
	}
}

// durations records n operations of d seconds on endpoint/target.
func durations(m *metrics.Metrics, endpoint, target string, d float64, n int) {
	h := m.OperationDuration.WithLabelValues("chat", "aws.bedrock", "anthropic.claude-sonnet", endpoint, target, "")
	for range n {
		h.Observe(d)
	}
}

// eventually runs query until its values equal want (within approx) and returns that result, or
// fails with the last difference once deadline has passed.
func eventually[K comparable](t *testing.T, deadline time.Time, query func() (Result[K], error), want map[K]float64) Result[K] {
	t.Helper()
	for {
		got, err := query()
		if err != nil {
			t.Fatal(err)
		}
		diff := cmp.Diff(want, got.Values, approx)
		if diff == "" {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("values (-want +got):\n%s", diff)
		}
		time.Sleep(250 * time.Millisecond) // a poll interval, not an assertion
	}
}

// TestQueriesAgainstPrometheus drives three guards' counters by a fixed step per scrape, lets a
// real Prometheus scrape them through GuardRelabelConfigs, and checks every query's figures.
//
// Per scrape (so per second):
//
//	team-a/chat   claude/us-east-1: 8 success, 1 upstream_error, 1 timeout, 2 throttled; 100 input + 50 output tokens; $0.01; 10 durations of 0.5s
//	              claude/us-west-2: 5 success; 20 input tokens; 5 durations of 0.05s
//	              claude/eu-west-1: a success counter that never moves
//	              claude/"":        1 rejected (refused before a target was chosen)
//	team-a/batch  claude/us-east-1: 4 success; 30 output tokens; $0.005; 4 durations of 0.5s
//	team-b/chat   claude/us-east-1: 3 success; 10 input tokens
//	team-a, a pod without the injected annotation: 1000 success on claude/us-east-1, which the
//	relabel rules must drop.
func TestQueriesAgainstPrometheus(t *testing.T) {
	t.Parallel()
	chatA := startGuard(t, func(m *metrics.Metrics) {
		m.RequestsTotal.WithLabelValues("claude", "eu-west-1", metrics.OutcomeSuccess)
	}, func(m *metrics.Metrics) {
		requests(m, "us-east-1", metrics.OutcomeSuccess, 8)
		requests(m, "us-east-1", metrics.OutcomeUpstreamError, 1)
		requests(m, "us-east-1", metrics.OutcomeTimeout, 1)
		requests(m, "us-east-1", metrics.OutcomeThrottled, 2)
		m.TokensTotal.WithLabelValues("claude", "us-east-1", "input").Add(100)
		m.TokensTotal.WithLabelValues("claude", "us-east-1", "output").Add(50)
		m.CostTotal.WithLabelValues("claude", "us-east-1").Add(0.01)
		durations(m, "claude", "us-east-1", 0.5, 10)

		requests(m, "us-west-2", metrics.OutcomeSuccess, 5)
		m.TokensTotal.WithLabelValues("claude", "us-west-2", "input").Add(20)
		durations(m, "claude", "us-west-2", 0.05, 5)

		requests(m, "", metrics.OutcomeRejected, 1)
	})
	batchA := startGuard(t, nil, func(m *metrics.Metrics) {
		requests(m, "us-east-1", metrics.OutcomeSuccess, 4)
		m.TokensTotal.WithLabelValues("claude", "us-east-1", "output").Add(30)
		m.CostTotal.WithLabelValues("claude", "us-east-1").Add(0.005)
		durations(m, "claude", "us-east-1", 0.5, 4)
	})
	chatB := startGuard(t, nil, func(m *metrics.Metrics) {
		requests(m, "us-east-1", metrics.OutcomeSuccess, 3)
		m.TokensTotal.WithLabelValues("claude", "us-east-1", "input").Add(10)
	})
	notInjected := startGuard(t, nil, func(m *metrics.Metrics) {
		requests(m, "us-east-1", metrics.OutcomeSuccess, 1000)
	})

	prom := startPrometheus(t, []podTarget{
		{addr: chatA.addr(), namespace: "team-a", pod: "chat-1", injected: "chat"},
		{addr: batchA.addr(), namespace: "team-a", pod: "batch-1", injected: "batch"},
		{addr: chatB.addr(), namespace: "team-b", pod: "chat-1", injected: "chat"},
		{addr: notInjected.addr(), namespace: "team-a", pod: "other-1", injected: ""},
	})
	// Eight scrapes in the last ten seconds: every series is older than the 5s window, so rates are
	// not cut short by a series that starts inside it.
	prom.waitForSamples(t, 3, 8, 10*time.Second)

	src, err := New(Config{URL: prom.url, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	teamA := Scope{Namespace: "team-a", Endpoints: []string{"claude"}, Window: window}
	east := Key{"team-a", "claude", "us-east-1"}
	west := Key{"team-a", "claude", "us-west-2"}
	idle := Key{"team-a", "claude", "eu-west-1"}
	none := Key{"team-a", "claude", ""}

	tests := []struct {
		name  string
		query func(context.Context, Scope) (Result[Key], error)
		scope Scope
		want  map[Key]float64
	}{
		{
			name:  "request rate per target",
			query: src.RequestRate,
			scope: teamA,
			// The counter that never moves is a rate of 0, not missing data.
			want: map[Key]float64{east: 16, west: 5, idle: 0, none: 1},
		},
		{
			name:  "request rate per endpoint",
			query: src.RequestRate,
			scope: Scope{Namespace: "team-a", Endpoints: []string{"claude"}, Window: window, SumTargets: true},
			want:  map[Key]float64{{"team-a", "claude", ""}: 22},
		},
		{
			name:  "request rate across namespaces keeps them apart",
			query: src.RequestRate,
			scope: Scope{Window: window, SumTargets: true},
			want:  map[Key]float64{{"team-a", "claude", ""}: 22, {"team-b", "claude", ""}: 3},
		},
		{
			name:  "error ratio",
			query: src.ErrorRatio,
			scope: teamA,
			// 2 errors of 16 attempts; a target with attempts and no error is 0; the target without
			// attempts in the window has no ratio at all, nor do requests refused before any attempt.
			want: map[Key]float64{east: 2.0 / 16, west: 0},
		},
		{
			name:  "throttle ratio",
			query: src.ThrottleRatio,
			scope: teamA,
			want:  map[Key]float64{east: 2.0 / 16, west: 0},
		},
		{
			name:  "attempt rate per target",
			query: src.AttemptRate,
			scope: teamA,
			// As the request rate, without the requests refused before any attempt (the idle target
			// only has a request series).
			want: map[Key]float64{east: 16, west: 5},
		},
		{
			name:  "p99 latency",
			query: src.LatencyP99,
			scope: teamA,
			// All observations in the (0.32, 0.64] and (0.04, 0.08] buckets: histogram_quantile
			// interpolates 99% of the way through them.
			want: map[Key]float64{east: 0.32 + 0.32*0.99, west: 0.04 + 0.04*0.99},
		},
		{
			name:  "tokens per minute",
			query: src.TokensPerMinute,
			scope: teamA,
			want:  map[Key]float64{east: (150 + 30) * 60, west: 20 * 60},
		},
		{
			name:  "cost per minute",
			query: src.CostPerMinute,
			scope: teamA,
			// us-west-2 has no price, so no cost series: no data rather than $0.
			want: map[Key]float64{east: 0.015 * 60},
		},
		{
			name:  "namespace without histograms has no p99",
			query: src.LatencyP99,
			scope: Scope{Namespace: "team-b", Window: window},
			want:  map[Key]float64{},
		},
		{
			name:  "unknown endpoint has no data",
			query: src.RequestRate,
			scope: Scope{Endpoints: []string{"missing"}, Window: window},
			want:  map[Key]float64{},
		},
		{
			name:  "window shorter than the scrape interval has no data",
			query: src.RequestRate,
			scope: Scope{Namespace: "team-a", Window: 500 * time.Millisecond},
			want:  map[Key]float64{},
		},
	}
	// On a loaded machine a scrape can come late, which skews one window's rate for a moment; each
	// figure is polled until it matches or the shared deadline passes, and only then is it a failure.
	deadline := time.Now().Add(30 * time.Second)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := eventually(t, deadline, func() (Result[Key], error) { return tc.query(ctx, tc.scope) }, tc.want)
			if len(got.Warnings) != 0 {
				t.Errorf("warnings: %q", got.Warnings)
			}
		})
	}

	workloads := []struct {
		name  string
		query func(context.Context, Scope) (Result[WorkloadKey], error)
		scope Scope
		want  map[WorkloadKey]float64
	}{
		{
			name:  "tokens per minute per workload",
			query: src.WorkloadTokensPerMinute,
			scope: Scope{Endpoints: []string{"claude"}, Window: window},
			want: map[WorkloadKey]float64{
				{"team-a", "chat"}:  (150 + 20) * 60,
				{"team-a", "batch"}: 30 * 60,
				{"team-b", "chat"}:  10 * 60,
			},
		},
		{
			name:  "cost per minute per workload in one namespace",
			query: src.WorkloadCostPerMinute,
			scope: Scope{Namespace: "team-a", Endpoints: []string{"claude"}, Window: window},
			want:  map[WorkloadKey]float64{{"team-a", "chat"}: 0.6, {"team-a", "batch"}: 0.3},
		},
		{
			name:  "workload usage of an unknown endpoint has no data",
			query: src.WorkloadTokensPerMinute,
			scope: Scope{Endpoints: []string{"missing"}, Window: window},
			want:  map[WorkloadKey]float64{},
		},
	}
	for _, tc := range workloads {
		t.Run(tc.name, func(t *testing.T) {
			eventually(t, deadline, func() (Result[WorkloadKey], error) { return tc.query(ctx, tc.scope) }, tc.want)
		})
	}

	// Usage today: every sample the harness has is from today (or, within five minutes after
	// midnight, inside MinDayWindow), so tokens and cost today are the counters' totals, up to one
	// scrape's step: increase() misses the first sample's value and extrapolates to the edges.
	t.Run("usage today", func(t *testing.T) {
		at := time.Now()
		frozen := *src
		frozen.now = func() time.Time { return at }
		scope := Scope{Namespace: "team-a", Endpoints: []string{"claude"}, SumTargets: true}
		key := Key{"team-a", "claude", ""}
		for _, tc := range []struct {
			name  string
			query func(context.Context, Scope) (Result[Key], error)
			total string
			step  float64
		}{
			{"tokens", frozen.TokensToday, `sum by (namespace, endpoint) (breakwater_guard_tokens_total{namespace="team-a", type=~"input|output"})`, 150 + 20 + 30},
			{"cost", frozen.CostToday, `sum by (namespace, endpoint) (breakwater_guard_cost_total{namespace="team-a"})`, 0.015},
		} {
			got, err := tc.query(ctx, scope)
			if err != nil {
				t.Fatal(err)
			}
			v, ok := got.Get(key)
			if !ok {
				t.Fatalf("%s today: no data in %v", tc.name, got.Values)
			}
			total, _, _, err := prom.api.Query(ctx, tc.total, at)
			if err != nil {
				t.Fatal(err)
			}
			vec, _ := total.(model.Vector)
			if len(vec) != 1 {
				t.Fatalf("%s total: %v", tc.name, total)
			}
			want := float64(vec[0].Value)
			if diff := v - want; diff < -1.01*tc.step || diff > 1.01*tc.step || want < 3*tc.step {
				t.Errorf("%s today = %v, the counters' total is %v (step %v per scrape)", tc.name, v, want, tc.step)
			}
		}
	})

	t.Run("Get tells missing from zero", func(t *testing.T) {
		got, err := src.RequestRate(ctx, teamA)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := got.Get(idle); !ok || v != 0 {
			t.Errorf("Get(%v) = %v, %v; want 0, true", idle, v, ok)
		}
		missing := Key{"team-a", "claude", "ap-south-1"}
		if v, ok := got.Get(missing); ok {
			t.Errorf("Get(%v) = %v, true; want no data", missing, v)
		}
	})
}

func TestPrometheusDown(t *testing.T) {
	t.Parallel()
	src, err := New(Config{URL: unusedURL(t), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got, err := src.ErrorRatio(context.Background(), Scope{Endpoints: []string{"claude"}, Window: window})
	if err == nil {
		t.Fatalf("no error from a Prometheus that is not there; got %v", got)
	}
	msg := err.Error()
	for _, want := range []string{QueryErrorRatio, "connection refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, metricRequests) {
		t.Errorf("error %q carries the PromQL; it should name the query only", msg)
	}
	if got.Values != nil {
		t.Errorf("values on error: %v", got.Values)
	}
}

// fakeAPI answers /api/v1/query with body, for what a real Prometheus does not easily produce.
func fakeAPI(t *testing.T, status int, body any) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if err := json.NewEncoder(w).Encode(body); err != nil {
			t.Error(err)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestWarningsAreSurfaced(t *testing.T) {
	t.Parallel()
	url := fakeAPI(t, http.StatusOK, map[string]any{
		"status": "success",
		"data": map[string]any{
			"resultType": "vector",
			"result": []any{
				map[string]any{"metric": map[string]string{"namespace": "team-a", "endpoint": "claude", "target": "us-east-1"}, "value": []any{1700000000, "1200"}},
				map[string]any{"metric": map[string]string{"namespace": "team-a", "endpoint": "claude", "target": "us-west-2"}, "value": []any{1700000000, "NaN"}},
			},
		},
		"warnings": []string{"partial response: one store unavailable"},
	})
	src, err := New(Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	got, err := src.TokensPerMinute(context.Background(), Scope{Window: window})
	if err != nil {
		t.Fatal(err)
	}
	want := Result[Key]{
		// A NaN from the backend is no data.
		Values:   map[Key]float64{{"team-a", "claude", "us-east-1"}: 1200},
		Warnings: []string{"partial response: one store unavailable"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
}

func TestAPIErrorNamesQuery(t *testing.T) {
	t.Parallel()
	url := fakeAPI(t, http.StatusUnprocessableEntity, map[string]any{
		"status": "error", "errorType": "execution", "error": "query processing would load too many samples",
	})
	src, err := New(Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.LatencyP99(context.Background(), Scope{Window: window})
	if err == nil || !strings.Contains(err.Error(), QueryLatencyP99) || !strings.Contains(err.Error(), "too many samples") {
		t.Errorf("error = %v; want one naming %s with the server's message", err, QueryLatencyP99)
	}
}

func TestQueryTimeout(t *testing.T) {
	t.Parallel()
	// A Prometheus that never answers: the query must give up at the configured timeout.
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice the client hanging up; release ends the handler
		// in any case, so that Close does not wait for it.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	src, err := New(Config{URL: srv.URL, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.RequestRate(context.Background(), Scope{Window: window})
	if err == nil || !strings.Contains(err.Error(), QueryRequestRate) || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("error = %v; want a deadline error naming %s", err, QueryRequestRate)
	}
}

func TestInvalidScope(t *testing.T) {
	t.Parallel()
	src, err := New(Config{URL: unusedURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.CostPerMinute(context.Background(), Scope{}); err == nil || !strings.Contains(err.Error(), "window") {
		t.Errorf("error = %v; want one about the window", err)
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted a config without a URL")
	}
}
