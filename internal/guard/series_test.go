package guard

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/breakwater-dev/breakwater/internal/metrics"
)

func exposition(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func TestOutcomeIndex(t *testing.T) {
	for i, o := range outcomes {
		if got := outcomeIndex(o); got != i {
			t.Errorf("outcomeIndex(%q) = %d, want %d", o, got, i)
		}
	}
	if got := outcomeIndex("unlisted"); got != -1 {
		t.Errorf("outcomeIndex(unlisted) = %d, want -1", got)
	}
	for i, op := range []string{"chat", "embeddings", "generate_content"} {
		if got := opIndex(op); got != i {
			t.Errorf("opIndex(%q) = %d, want %d", op, got, i)
		}
	}
}

// TestSeriesMatchLookups records the same updates through series and through label lookups on
// two registries: the expositions must be identical, unused series included (they must not
// appear).
func TestSeriesMatchLookups(t *testing.T) {
	regS, regL := prometheus.NewRegistry(), prometheus.NewRegistry()
	ms, ml := metrics.Register(regS), metrics.Register(regL)
	type pair struct {
		endpoint, target, provider, model string
	}
	for _, p := range []pair{{"gpt", "primary", "openai", "gpt-sim"}, {"gpt", "", "openai", ""}, {"docs", "docs", "", ""}} {
		s := newSeries(ms, p.endpoint, p.target, p.provider, p.model)
		newSeries(ms, p.endpoint, p.target+"-unused", p.provider, p.model) // never used: no series
		// The second round goes through the series resolved in the first.
		for round := range 2 {
			for i, o := range append(outcomes[:], "unlisted") {
				v := float64(round*10 + i + 1)
				s.requestsTotal(o).Inc()
				ml.RequestsTotal.WithLabelValues(p.endpoint, p.target, o).Inc()
				s.attemptsTotal(o).Add(v)
				ml.AttemptsTotal.WithLabelValues(p.endpoint, p.target, o).Add(v)
				for _, op := range []string{"chat", "embeddings", "generate_content", "unlisted"} {
					errType := o
					if o == metrics.OutcomeSuccess {
						errType = ""
					}
					s.operationDuration(op, o).Observe(v / 100)
					ml.OperationDuration.WithLabelValues(op, p.provider, p.model, p.endpoint, p.target, errType).Observe(v / 100)
				}
			}
			for _, op := range []string{"chat", "generate_content", "unlisted"} {
				s.timeToFirstToken(op).Observe(0.05)
				ml.TimeToFirstToken.WithLabelValues(op, p.provider, p.model, p.endpoint, p.target).Observe(0.05)
				s.tokenUsage(op, tokenInput).Observe(120)
				ml.TokenUsage.WithLabelValues(op, p.provider, p.model, p.endpoint, p.target, "input").Observe(120)
				s.tokenUsage(op, tokenOutput).Observe(130)
				ml.TokenUsage.WithLabelValues(op, p.provider, p.model, p.endpoint, p.target, "output").Observe(130)
			}
			s.retriesTotal().Inc()
			ml.RetriesTotal.WithLabelValues(p.endpoint, p.target).Inc()
			s.tokensTotal(tokenInput).Add(120)
			ml.TokensTotal.WithLabelValues(p.endpoint, p.target, "input").Add(120)
			s.tokensTotal(tokenOutput).Add(130)
			ml.TokensTotal.WithLabelValues(p.endpoint, p.target, "output").Add(130)
			s.costTotal().Add(0.25)
			ml.CostTotal.WithLabelValues(p.endpoint, p.target).Add(0.25)
		}
	}
	if diff := cmp.Diff(exposition(t, regL), exposition(t, regS)); diff != "" {
		t.Errorf("exposition differs (-lookups +series):\n%s", diff)
	}
}

// recordSeries is what account records for one successful non-streamed chat request with usage
// and prices, through the resolved series.
func recordSeries(s *series) {
	s.attemptsTotal(metrics.OutcomeSuccess).Inc()
	s.requestsTotal(metrics.OutcomeSuccess).Inc()
	s.operationDuration("chat", metrics.OutcomeSuccess).Observe(0.0123)
	s.tokenUsage("chat", tokenInput).Observe(120)
	s.tokenUsage("chat", tokenOutput).Observe(130)
	s.tokensTotal(tokenInput).Add(120)
	s.tokensTotal(tokenOutput).Add(130)
	s.costTotal().Add(0.00231)
}

// recordLookups is the same with a lookup by label values per update (the guard before series).
func recordLookups(m *metrics.Metrics) {
	m.AttemptsTotal.WithLabelValues("gpt", "primary", metrics.OutcomeSuccess).Inc()
	m.RequestsTotal.WithLabelValues("gpt", "primary", metrics.OutcomeSuccess).Inc()
	m.OperationDuration.WithLabelValues("chat", "openai", "gpt-sim", "gpt", "primary", "").Observe(0.0123)
	m.TokenUsage.WithLabelValues("chat", "openai", "gpt-sim", "gpt", "primary", "input").Observe(120)
	m.TokenUsage.WithLabelValues("chat", "openai", "gpt-sim", "gpt", "primary", "output").Observe(130)
	m.TokensTotal.WithLabelValues("gpt", "primary", "input").Add(120)
	m.TokensTotal.WithLabelValues("gpt", "primary", "output").Add(130)
	m.CostTotal.WithLabelValues("gpt", "primary").Add(0.00231)
}

func TestSeriesAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	s := newSeries(metrics.Register(prometheus.NewRegistry()), "gpt", "primary", "openai", "gpt-sim")
	recordSeries(s)
	if n := testing.AllocsPerRun(100, func() { recordSeries(s) }); n != 0 {
		t.Errorf("recording through resolved series allocates %v times, want 0", n)
	}
}

// BenchmarkRecordMetrics is the eight per-request updates of a successful chat request: through
// the target's series (series) and, as the baseline, looked up by label values (lookups).
func BenchmarkRecordMetrics(b *testing.B) {
	b.Run("series", func(b *testing.B) {
		s := newSeries(metrics.Register(prometheus.NewRegistry()), "gpt", "primary", "openai", "gpt-sim")
		b.ReportAllocs()
		for b.Loop() {
			recordSeries(s)
		}
	})
	b.Run("lookups", func(b *testing.B) {
		m := metrics.Register(prometheus.NewRegistry())
		b.ReportAllocs()
		for b.Loop() {
			recordLookups(m)
		}
	})
}
