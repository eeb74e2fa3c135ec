package controllers

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/policy"
	"github.com/breakwater-dev/breakwater/internal/promsource"
)

// keyedSource answers every per-target query from fixed maps; nil maps are queries with no data.
type keyedSource struct {
	rate, errs, throttles, p99 map[promsource.Key]float64
}

// Query answers attempts as requests: in these fakes every request is one attempt.
func (s keyedSource) Query(_ context.Context, figure promsource.Figure, _ promsource.Scope) (promsource.Result[promsource.Key], error) {
	m := map[promsource.Figure]map[promsource.Key]float64{promsource.QueryAttemptRate: s.rate, promsource.QueryRequestRate: s.rate,
		promsource.QueryErrorRatio: s.errs, promsource.QueryThrottleRatio: s.throttles, promsource.QueryLatencyP99: s.p99}
	return promsource.Result[promsource.Key]{Values: m[figure]}, nil
}

// TestTargetMetrics checks how silence is read: idle for a target without weight or beside a
// scraped target, unknown when the whole endpoint is silent or a ratio is missing.
func TestTargetMetrics(t *testing.T) {
	p := &breakwaterv1alpha1.FailoverPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "ns"},
		Spec: breakwaterv1alpha1.FailoverPolicySpec{EndpointRef: breakwaterv1alpha1.LocalObjectReference{Name: "ep"}, Targets: []string{"a", "b"}}}
	k := func(target string) promsource.Key {
		return promsource.Key{Namespace: "ns", Endpoint: "ep", Target: target}
	}
	tr := policy.Triggers{ThrottleRatePercent: 5, P99Latency: time.Second}
	weights := map[string]int32{"a": 100, "b": 0}
	idle := &policy.TargetMetrics{}
	for name, tc := range map[string]struct {
		src  keyedSource
		want map[string]*policy.TargetMetrics
	}{
		"silent endpoint": {keyedSource{}, map[string]*policy.TargetMetrics{"b": idle}},
		"one target scraped": {keyedSource{rate: map[promsource.Key]float64{k("b"): 1}, throttles: map[promsource.Key]float64{k("b"): 0.5},
			p99: map[promsource.Key]float64{k("b"): math.Inf(1)}},
			map[string]*policy.TargetMetrics{"a": idle, "b": {Requests: 120, Throttles: 60, P99: time.Duration(math.MaxInt64)}}},
		"ratio missing": {keyedSource{rate: map[promsource.Key]float64{k("a"): 1}, p99: map[promsource.Key]float64{k("a"): 0.5}},
			map[string]*policy.TargetMetrics{"b": idle}},
	} {
		r := &FailoverPolicyReconciler{sources: Sources{Metrics: tc.src}}
		got, _, err := r.targetMetrics(context.Background(), p, tr, 2*time.Minute, weights)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	if _, _, err := (&FailoverPolicyReconciler{}).targetMetrics(context.Background(), p, tr, time.Minute, weights); !errors.Is(err, errNoMetricSource) {
		t.Errorf("without a source: %v", err)
	}
}
