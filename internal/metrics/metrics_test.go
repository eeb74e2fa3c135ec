package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRegisterTwiceAndLint checks that guards can each have a registry in one process and that
// every metric passes the Prometheus naming lint with Help text.
func TestRegisterTwiceAndLint(t *testing.T) {
	for range 2 {
		reg := prometheus.NewRegistry()
		m := Register(reg)
		m.TokenUsage.WithLabelValues("chat", "openai", "gpt", "e", "t", "input").Observe(3)
		m.OperationDuration.WithLabelValues("chat", "openai", "gpt", "e", "t", "").Observe(0.1)
		m.TimeToFirstToken.WithLabelValues("chat", "openai", "gpt", "e", "t").Observe(0.01)
		m.RequestsTotal.WithLabelValues("e", "t", OutcomeSuccess).Inc()
		m.RetriesTotal.WithLabelValues("e", "t").Inc()
		m.FallbacksTotal.WithLabelValues("e", "a", "b").Inc()
		m.RejectionsTotal.WithLabelValues("e", "quota_shed").Inc()
		m.CircuitState.WithLabelValues("e", "t").Set(CircuitOpen)
		m.TokensTotal.WithLabelValues("e", "t", "output").Add(5)
		m.CostTotal.WithLabelValues("e", "t").Add(0.001)
		m.RetrievalDegraded.WithLabelValues("b", "empty").Inc()
		m.DocumentsCapped.WithLabelValues("b").Inc()
		m.ConfigReloads.WithLabelValues("success").Inc()
		m.AdmissionDecisions.WithLabelValues("ns/q", AdmissionModeShared, AdmissionAdmitted).Inc()
		m.AdmissionStoreDuration.WithLabelValues("ok").Observe(0.001)
		m.AdmissionLearnedShare.WithLabelValues("ns/q").Set(1)
		problems, err := testutil.GatherAndLint(reg)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if len(mfs) != 21 {
			t.Errorf("gathered %d metric families, want 21", len(mfs))
		}
		for _, mf := range mfs {
			if !strings.HasPrefix(mf.GetName(), "gen_ai_") && !strings.HasPrefix(mf.GetName(), "breakwater_guard_") {
				t.Errorf("metric %s lacks the gen_ai_ or breakwater_guard_ prefix", mf.GetName())
			}
		}
	}
}
