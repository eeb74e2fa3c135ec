package promsource

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/breakwater-dev/breakwater/internal/metrics"
)

// TestNamesMatchGuardRegistry checks that the metrics and labels the queries read are registered
// by internal/metrics with exactly those labels.
func TestNamesMatchGuardRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.Register(reg)
	// Vectors are only gathered once they have a child.
	m.RequestsTotal.WithLabelValues("e", "t", metrics.OutcomeSuccess).Inc()
	m.AttemptsTotal.WithLabelValues("e", "t", metrics.OutcomeSuccess).Inc()
	m.TokensTotal.WithLabelValues("e", "t", "input").Inc()
	m.CostTotal.WithLabelValues("e", "t").Inc()
	m.OperationDuration.WithLabelValues("chat", "openai", "m", "e", "t", "").Observe(1)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string][]string{}
	for _, f := range families {
		var names []string
		for _, l := range f.GetMetric()[0].GetLabel() {
			names = append(names, l.GetName())
		}
		slices.Sort(names)
		labels[f.GetName()] = names
	}
	want := map[string][]string{
		metricRequests: {labelEndpoint, labelOutcome, labelTarget},
		metricAttempts: {labelEndpoint, labelOutcome, labelTarget},
		metricTokens:   {labelEndpoint, labelTarget, labelType},
		metricCost:     {labelEndpoint, labelTarget},
		strings.TrimSuffix(metricDurationBucket, "_bucket"): {labelEndpoint, "error_type", "gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", labelTarget},
	}
	for name, wantLabels := range want {
		got, ok := labels[name]
		if !ok {
			t.Errorf("internal/metrics registers no %s", name)
			continue
		}
		if diff := cmp.Diff(wantLabels, got); diff != "" {
			t.Errorf("labels of %s (-want +got):\n%s", name, diff)
		}
	}
	for _, l := range []string{labelNamespace, labelWorkload} {
		for name, got := range labels {
			if slices.Contains(got, l) {
				t.Errorf("the guard sets %q on %s; the scrape job's %q would be renamed exported_%s", l, name, l, l)
			}
		}
	}
}

// TestDocShowsTestedRelabelConfig: the scrape job in the package documentation must contain the
// relabel rules the tests run.
func TestDocShowsTestedRelabelConfig(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		doc[strings.TrimSpace(strings.TrimPrefix(line, "//"))] = true
	}
	for _, line := range strings.Split(GuardRelabelConfigs, "\n") {
		if line = strings.TrimSpace(line); line != "" && !doc[line] {
			t.Errorf("doc.go's scrape job lacks %q from GuardRelabelConfigs", line)
		}
	}
}

func TestQueryText(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  string
	}{
		{
			name:  "no scope",
			query: RequestRateQuery(Scope{Window: 2 * time.Minute}),
			want:  `sum by (namespace, endpoint, target) (rate(breakwater_guard_requests_total[120s]))`,
		},
		{
			name:  "endpoint names are matched literally",
			query: CostPerMinuteQuery(Scope{Namespace: "ns", Endpoints: []string{"a.b", "c"}, Window: 1500 * time.Millisecond, SumTargets: true}),
			want:  `sum by (namespace, endpoint) (rate(breakwater_guard_cost_total{namespace="ns", endpoint=~"a\\.b|c"}[1500ms])) * 60`,
		},
		{
			name:  "error ratio",
			query: ErrorRatioQuery(Scope{Endpoints: []string{"e"}, Window: 30 * time.Second}),
			want: `sum by (namespace, endpoint, target) (` +
				`rate(breakwater_guard_upstream_attempts_total{endpoint="e", outcome=~"upstream_error|timeout|stream_interrupted"}[30s])` +
				` or 0 * rate(breakwater_guard_upstream_attempts_total{endpoint="e"}[30s]))` +
				` / (sum by (namespace, endpoint, target) (rate(breakwater_guard_upstream_attempts_total{endpoint="e"}[30s])) > 0)`,
		},
		{
			name:  "p99",
			query: LatencyP99Query(Scope{Window: time.Minute}),
			want:  `histogram_quantile(0.99, sum by (namespace, endpoint, target, le) (rate(gen_ai_client_operation_duration_seconds_bucket[60s]))) >= 0`,
		},
		{
			name:  "tokens today",
			query: TokensTodayQuery(Scope{Namespace: "ns", Endpoints: []string{"e"}, Window: DayWindow(time.Date(2026, 3, 2, 13, 45, 10, 0, time.UTC)), SumTargets: true}),
			want:  `sum by (namespace, endpoint) (increase(breakwater_guard_tokens_total{namespace="ns", endpoint="e", type=~"input|output"}[49510s]))`,
		},
		{
			name:  "cost today",
			query: CostTodayQuery(Scope{Namespace: "ns", Window: DayWindow(time.Date(2026, 3, 2, 0, 1, 0, 0, time.UTC))}),
			want:  `sum by (namespace, endpoint, target) (increase(breakwater_guard_cost_total{namespace="ns"}[300s]))`,
		},
		{
			name:  "workload tokens",
			query: WorkloadTokensPerMinuteQuery(Scope{Window: time.Minute}),
			want:  `sum by (namespace, workload) (rate(breakwater_guard_tokens_total{type=~"input|output", workload!=""}[60s])) * 60`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.query); diff != "" {
				t.Errorf("PromQL (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDayWindow(t *testing.T) {
	for _, tc := range []struct {
		at   time.Time
		want time.Duration
	}{
		{time.Date(2026, 3, 2, 13, 45, 0, 0, time.UTC), 13*time.Hour + 45*time.Minute},
		// Rounded up to whole seconds: PromQL windows take no fractions.
		{time.Date(2026, 3, 2, 23, 59, 59, 500_000_000, time.UTC), 24 * time.Hour},
		// Just after midnight: at least MinDayWindow.
		{time.Date(2026, 3, 2, 0, 0, 10, 0, time.UTC), MinDayWindow},
		{time.Date(2026, 3, 2, 0, 7, 0, 0, time.UTC), 7 * time.Minute},
		// Days are UTC days whatever the zone of the time given.
		{time.Date(2026, 3, 2, 1, 30, 0, 0, time.FixedZone("CET", 3600)), 30 * time.Minute},
	} {
		if got := DayWindow(tc.at); got != tc.want {
			t.Errorf("DayWindow(%s) = %s, want %s", tc.at, got, tc.want)
		}
	}
}

func TestServerTimeout(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		1500 * time.Millisecond: time.Second,
		10 * time.Second:        10 * time.Second,
		200 * time.Millisecond:  200 * time.Millisecond,
		time.Microsecond:        time.Millisecond,
	} {
		if got := serverTimeout(in); got != want {
			t.Errorf("serverTimeout(%s) = %s, want %s", in, got, want)
		}
	}
}
