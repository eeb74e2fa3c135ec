package micro

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/breakwater-dev/breakwater/internal/guard/breaker"
	"github.com/breakwater-dev/breakwater/internal/guard/inspect"
	"github.com/breakwater-dev/breakwater/internal/guard/quota"
	"github.com/breakwater-dev/breakwater/internal/metrics"
)

// BenchmarkInspect is the guard's request inspection of a 4 KB chat body: prompt estimate, clamp
// of max_tokens, stream_options.include_usage.
func BenchmarkInspect(b *testing.B) {
	b.SetBytes(int64(len(Body4KB)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := inspect.OpenAIChat(Body4KB, 512); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONValid is its baseline: encoding/json.Valid over the same body, the least a proxy
// that looks at JSON at all must spend.
func BenchmarkJSONValid(b *testing.B) {
	b.SetBytes(int64(len(Body4KB)))
	b.ReportAllocs()
	for b.Loop() {
		if !json.Valid(Body4KB) {
			b.Fatal("invalid")
		}
	}
}

var breakerSettings = breaker.Settings{Window: 30 * time.Second, MinRequests: 20, FailureRatio: 0.5,
	ConsecutiveFailures: 5, OpenDuration: time.Hour, HalfOpenProbes: 2}

// BenchmarkBreakerAdmit is a closed breaker admitting a request and recording its success.
func BenchmarkBreakerAdmit(b *testing.B) {
	br := breaker.New(breakerSettings, time.Now)
	b.ReportAllocs()
	for b.Loop() {
		tk, ok := br.Admit()
		if !ok {
			b.Fatal("refused")
		}
		tk.Done(true)
	}
}

// BenchmarkBreakerReject is an open breaker refusing a request.
func BenchmarkBreakerReject(b *testing.B) {
	br := breaker.New(breakerSettings, time.Now)
	for range breakerSettings.ConsecutiveFailures {
		if tk, ok := br.Admit(); ok {
			tk.Done(false)
		}
	}
	if br.State() != breaker.Open {
		b.Fatalf("breaker %v, want open", br.State())
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := br.Admit(); ok {
			b.Fatal("admitted")
		}
	}
}

// BenchmarkMutex is the baseline of the breaker and the quota: one uncontended lock, increment,
// unlock, the least a shared counter costs.
func BenchmarkMutex(b *testing.B) {
	var mu sync.Mutex
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		mu.Lock()
		n++
		mu.Unlock()
	}
	_ = n
}

// BenchmarkQuotaAdmit is the local token allowance reserving a request's tokens and settling them
// with the usage the provider reported, as every request does.
func BenchmarkQuotaAdmit(b *testing.B) {
	bk := quota.NewBucket(1<<50, time.Now)
	b.ReportAllocs()
	for b.Loop() {
		if !bk.Reserve(1000) {
			b.Fatal("refused")
		}
		bk.Settle(1000, 900)
	}
}

// BenchmarkMetricsRecord is what the guard records for one successful non-streamed chat request
// (Guard.ServeHTTP and account): in-flight gauge up and down, request counter, duration histogram,
// two token histograms, two token counters, cost counter, each looked up by its label values.
func BenchmarkMetricsRecord(b *testing.B) {
	m := metrics.Register(prometheus.NewRegistry())
	b.ReportAllocs()
	for b.Loop() {
		m.InFlight.Inc()
		m.RequestsTotal.WithLabelValues("gpt", "primary", metrics.OutcomeSuccess).Inc()
		m.OperationDuration.WithLabelValues("chat", "openai", "gpt-sim", "gpt", "primary", "").Observe(0.0123)
		m.TokenUsage.WithLabelValues("chat", "openai", "gpt-sim", "gpt", "primary", "input").Observe(120)
		m.TokenUsage.WithLabelValues("chat", "openai", "gpt-sim", "gpt", "primary", "output").Observe(130)
		m.TokensTotal.WithLabelValues("gpt", "primary", "input").Add(120)
		m.TokensTotal.WithLabelValues("gpt", "primary", "output").Add(130)
		m.CostTotal.WithLabelValues("gpt", "primary").Add(0.00231)
		m.InFlight.Dec()
	}
}

// BenchmarkMetricsPreresolved is its baseline: the same nine updates on series looked up once, i.e.
// bare prometheus Counter.Inc / Histogram.Observe / Gauge calls; the difference is the label lookups.
func BenchmarkMetricsPreresolved(b *testing.B) {
	m := metrics.Register(prometheus.NewRegistry())
	req := m.RequestsTotal.WithLabelValues("gpt", "primary", metrics.OutcomeSuccess)
	dur := m.OperationDuration.WithLabelValues("chat", "openai", "gpt-sim", "gpt", "primary", "")
	tin := m.TokenUsage.WithLabelValues("chat", "openai", "gpt-sim", "gpt", "primary", "input")
	tout := m.TokenUsage.WithLabelValues("chat", "openai", "gpt-sim", "gpt", "primary", "output")
	cin := m.TokensTotal.WithLabelValues("gpt", "primary", "input")
	cout := m.TokensTotal.WithLabelValues("gpt", "primary", "output")
	cost := m.CostTotal.WithLabelValues("gpt", "primary")
	b.ReportAllocs()
	for b.Loop() {
		m.InFlight.Inc()
		req.Inc()
		dur.Observe(0.0123)
		tin.Observe(120)
		tout.Observe(130)
		cin.Add(120)
		cout.Add(130)
		cost.Add(0.00231)
		m.InFlight.Dec()
	}
}
