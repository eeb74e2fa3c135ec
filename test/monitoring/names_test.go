package monitoring

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/breakwater-dev/breakwater/internal/metrics"
)

// managerMetrics are the manager's metrics (internal/managermetrics, docs/manager.md) with their
// labels and whether each is a histogram. Listed here rather than imported so that the monitoring
// contract is written down once more: renaming a manager metric must fail this package until the
// alerts and the dashboard follow.
var managerMetrics = map[string]struct {
	labels    []string
	histogram bool
}{
	"breakwater_manager_decisions_total":             {labels: []string{"loop", "decision", "reason"}},
	"breakwater_manager_actions_total":               {labels: []string{"action", "reason", "result"}},
	"breakwater_manager_quota_usage_ratio":           {labels: []string{"namespace", "tokenquota", "limit"}},
	"breakwater_manager_quota_state":                 {labels: []string{"namespace", "tokenquota"}},
	"breakwater_manager_workloads_shed":              {labels: []string{"namespace", "tokenquota"}},
	"breakwater_manager_target_weight":               {labels: []string{"namespace", "failoverpolicy", "target"}},
	"breakwater_manager_evaluation_duration_seconds": {labels: []string{"loop"}, histogram: true},
	"breakwater_manager_source_errors_total":         {labels: []string{"source"}},
}

// scrapeLabels are the labels the guards' scrape job adds (promsource.GuardRelabelConfigs).
var scrapeLabels = []string{"namespace", "workload", "pod", "job", "instance"}

// collecting is a Registerer that keeps what is registered, to read the guard's metric Descs.
type collecting struct{ cs []prometheus.Collector }

func (c *collecting) Register(col prometheus.Collector) error { c.cs = append(c.cs, col); return nil }
func (c *collecting) MustRegister(cs ...prometheus.Collector) { c.cs = append(c.cs, cs...) }
func (c *collecting) Unregister(prometheus.Collector) bool    { return false }

var descPattern = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)

// knownSeries are the series names (histograms with _bucket, _sum, _count) the guard
// (internal/metrics) and the manager export, and knownLabels every label name they or the scrape
// carry, plus le.
func knownNames(t *testing.T) (series, labels map[string]bool) {
	t.Helper()
	series, labels = map[string]bool{}, map[string]bool{"le": true}
	for _, l := range scrapeLabels {
		labels[l] = true
	}
	add := func(name string, ls []string, histogram bool) {
		if histogram {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				series[name+s] = true
			}
		} else {
			series[name] = true
		}
		for _, l := range ls {
			labels[l] = true
		}
	}
	reg := &collecting{}
	metrics.Register(reg)
	for _, c := range reg.cs {
		_, histogram := c.(*prometheus.HistogramVec)
		ch := make(chan *prometheus.Desc, 4)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := descPattern.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read %s", d)
			}
			var ls []string
			if m[2] != "" {
				ls = strings.Split(m[2], ",")
			}
			add(m[1], ls, histogram)
		}
	}
	if len(series) < 16 {
		t.Fatalf("read only %d guard series names from internal/metrics", len(series))
	}
	for name, m := range managerMetrics {
		add(name, m.labels, m.histogram)
	}
	return series, labels
}

// identPattern finds the names of Breakwater and GenAI metrics and labels in PromQL.
var identPattern = regexp.MustCompile(`\b(?:breakwater|gen_ai)_[a-zA-Z0-9_]*`)

// unknownNames are the breakwater_* and gen_ai_* identifiers of expr that are neither a series nor
// a label name the guard or the manager exports.
func unknownNames(expr string, series, labels map[string]bool) []string {
	var unknown []string
	for _, id := range identPattern.FindAllString(expr, -1) {
		if !series[id] && !labels[id] {
			unknown = append(unknown, id)
		}
	}
	sort.Strings(unknown)
	return unknown
}

// seriesIn are the known series names expr reads.
func seriesIn(expr string, series map[string]bool) []string {
	var used []string
	for _, id := range identPattern.FindAllString(expr, -1) {
		if series[id] {
			used = append(used, id)
		}
	}
	return used
}
