package controllers

import (
	"context"
	"math"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/managermetrics"
	"github.com/breakwater-dev/breakwater/internal/policy"
	"github.com/breakwater-dev/breakwater/internal/promsource"
)

// endpointFigures reads the endpoint's live figures, all targets together, over window. It
// returns the previous figures when the source is missing or fails, so that a blind spot never
// reads as zero traffic; a figure Prometheus has no data for is left unset.
func endpointFigures(ctx context.Context, src Sources, me *breakwaterv1alpha1.ModelEndpoint, window time.Duration) *breakwaterv1alpha1.TrafficFigures {
	if src.Metrics == nil {
		return me.Status.Observed
	}
	scope := promsource.Scope{Namespace: me.Namespace, Endpoints: []string{me.Name}, Window: window, SumTargets: true}
	key := promsource.Key{Namespace: me.Namespace, Endpoint: me.Name}
	read := func(figure promsource.Figure) (float64, bool, error) {
		r, err := src.Metrics.Query(ctx, figure, scope)
		if err != nil {
			return 0, false, err
		}
		v, ok := r.Get(key)
		return v, ok && !math.IsNaN(v), nil
	}
	now := metav1.NewTime(src.now().UTC().Truncate(time.Second))
	f := &breakwaterv1alpha1.TrafficFigures{Window: &metav1.Duration{Duration: window}, UpdatedAt: &now}
	steps := []struct {
		figure promsource.Figure
		set    func(float64)
	}{
		{promsource.QueryRequestRate, func(v float64) { f.RequestsPerSecond = decimal(v) }},
		{promsource.QueryErrorRatio, func(v float64) { f.ErrorPercent = decimal(v * 100) }},
		{promsource.QueryThrottleRatio, func(v float64) { f.ThrottlePercent = decimal(v * 100) }},
		{promsource.QueryLatencyP99, func(v float64) {
			if !math.IsInf(v, 0) { // above the largest bucket: no figure rather than a made-up one
				f.P99Latency = &metav1.Duration{Duration: secondsDuration(v).Round(time.Millisecond)}
			}
		}},
		{promsource.QueryTokensPerMinute, func(v float64) { tpm := int64(math.Round(max(v, 0))); f.TokensPerMinute = &tpm }},
	}
	for _, s := range steps {
		v, ok, err := read(s.figure)
		if err != nil {
			src.ManagerMetrics.SourceError(managermetrics.SourcePrometheus)
			log.FromContext(ctx).Info("Metric source unavailable; holding the endpoint's figures", "error", err.Error())
			return me.Status.Observed
		}
		if ok {
			s.set(v)
		}
	}
	// Figures that did not change keep their updatedAt, so an idle endpoint's status is not
	// patched on every evaluation: with many endpoints those writes add up for the API server.
	if prev := me.Status.Observed; prev != nil && prev.UpdatedAt != nil {
		same := *f
		same.UpdatedAt = prev.UpdatedAt
		if equality.Semantic.DeepEqual(&same, prev) {
			return prev
		}
	}
	return f
}

// figuresWindow is the window of the steering policy's triggers, so that the endpoint's figures
// are the ones its failover decisions see; the policy default without one.
func figuresWindow(p *breakwaterv1alpha1.FailoverPolicy) time.Duration {
	if p != nil && p.Spec.Triggers.Window.Duration > 0 {
		return p.Spec.Triggers.Window.Duration
	}
	return policy.DefaultWindow
}
