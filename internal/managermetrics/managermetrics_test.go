package managermetrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func registered(t *testing.T) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := New()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// TestNames pins the metric names: alerts and dashboards are written against them.
func TestNames(t *testing.T) {
	m, reg := registered(t)
	m.Decision(LoopTokenQuota, "Warning", "WarnThresholdReached")
	m.Action(ActionScaleDown, "QuotaShedding", ResultApplied)
	m.SetQuota("ns", "q", QuotaFigures{State: 2, Shed: 1, Ratios: map[string]float64{LimitTokensPerMinute: 0.9}})
	m.SetWeights("ns", "p", map[string]int32{"a": 100})
	m.ObserveEvaluation(LoopFailover, time.Now())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		got = append(got, f.GetName())
	}
	want := "breakwater_manager_actions_total breakwater_manager_decisions_total breakwater_manager_evaluation_duration_seconds " +
		"breakwater_manager_quota_state breakwater_manager_quota_usage_ratio breakwater_manager_source_errors_total " +
		"breakwater_manager_target_weight breakwater_manager_workloads_shed"
	if strings.Join(got, " ") != want {
		t.Errorf("metric names\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}

func TestQuotaSeries(t *testing.T) {
	m, _ := registered(t)
	m.SetQuota("ns", "q", QuotaFigures{State: 1, Shed: 2, Ratios: map[string]float64{
		LimitTokensPerMinute: 0.85, LimitCostPerDay: 0.5}})
	m.SetQuota("ns", "other", QuotaFigures{State: 0})
	if got := testutil.ToFloat64(m.QuotaUsageRatio.WithLabelValues("ns", "q", LimitCostPerDay)); got != 0.5 {
		t.Errorf("cost ratio %v, want 0.5", got)
	}
	// A limit no longer measured loses its series rather than keep a stale ratio.
	m.SetQuota("ns", "q", QuotaFigures{State: 3, Shed: 2, Ratios: map[string]float64{LimitTokensPerMinute: 1.2}})
	if n := testutil.CollectAndCount(m.QuotaUsageRatio); n != 1 {
		t.Errorf("%d usage ratio series, want 1 (tokens per minute)", n)
	}
	if got := testutil.ToFloat64(m.QuotaState.WithLabelValues("ns", "q")); got != 3 {
		t.Errorf("state %v, want 3", got)
	}
	m.ForgetQuota("ns", "q")
	for name, c := range map[string]prometheus.Collector{"ratio": m.QuotaUsageRatio, "state": m.QuotaState, "shed": m.WorkloadsShed} {
		want := 0
		if name != "ratio" {
			want = 1 // "other" stays
		}
		if n := testutil.CollectAndCount(c); n != want {
			t.Errorf("%s: %d series after ForgetQuota, want %d", name, n, want)
		}
	}
}

func TestWeightSeries(t *testing.T) {
	m, _ := registered(t)
	m.SetWeights("ns", "p", map[string]int32{"east": 50, "west": 50})
	m.SetWeights("ns", "q", map[string]int32{"east": 100})
	m.SetWeights("ns", "p", map[string]int32{"east": 0, "central": 100})
	want := `
# HELP breakwater_manager_target_weight Current weight (0-100) of a target of the ModelEndpoint a FailoverPolicy steers (status.weights).
# TYPE breakwater_manager_target_weight gauge
breakwater_manager_target_weight{failoverpolicy="p",namespace="ns",target="central"} 100
breakwater_manager_target_weight{failoverpolicy="p",namespace="ns",target="east"} 0
breakwater_manager_target_weight{failoverpolicy="q",namespace="ns",target="east"} 100
`
	if err := testutil.CollectAndCompare(m.TargetWeight, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	m.ForgetPolicy("ns", "p")
	if n := testutil.CollectAndCount(m.TargetWeight); n != 1 {
		t.Errorf("%d weight series after ForgetPolicy, want 1", n)
	}
}

func TestSourceErrorsStartAtZero(t *testing.T) {
	m, _ := registered(t)
	m.SourceError(SourceServiceQuotas)
	want := `
# HELP breakwater_manager_source_errors_total Failed reads of a metric or limit source by the control loops. source: prometheus, servicequotas, cloudwatch or bedrock.
# TYPE breakwater_manager_source_errors_total counter
breakwater_manager_source_errors_total{source="bedrock"} 0
breakwater_manager_source_errors_total{source="cloudwatch"} 0
breakwater_manager_source_errors_total{source="prometheus"} 0
breakwater_manager_source_errors_total{source="servicequotas"} 1
`
	if err := testutil.CollectAndCompare(m.SourceErrors, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// TestNilIsSilent: a loop built without metrics calls the same methods.
func TestNilIsSilent(t *testing.T) {
	var m *Metrics
	m.Decision(LoopFailover, DecisionHold, "Steady")
	m.Action(ActionShiftWeights, "Failback", ResultShadow)
	m.SourceError(SourcePrometheus)
	m.ObserveEvaluation(LoopTokenQuota, time.Now())
	m.SetQuota("ns", "q", QuotaFigures{})
	m.ForgetQuota("ns", "q")
	m.SetWeights("ns", "p", map[string]int32{"a": 1})
	m.ForgetPolicy("ns", "p")
}

func TestDefaultRegistersOnce(t *testing.T) {
	a, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Default()
	if err != nil || a != b {
		t.Errorf("Default() twice: %p, %p, %v", a, b, err)
	}
}
