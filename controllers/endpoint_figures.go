package controllers

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/managermetrics"
	"github.com/breakwater-dev/breakwater/internal/policy"
	"github.com/breakwater-dev/breakwater/internal/promsource"
)

// availability is whether a target can take traffic and why not.
type availability struct {
	available bool
	message   string
}

// targetAvailability asks the catalogue about each bedrock target. Without a catalogue, or when
// it cannot answer, the previous verdict is held (available for a target seen the first time):
// an unreadable catalogue says nothing new about a target.
func targetAvailability(ctx context.Context, src Sources, me *breakwaterv1alpha1.ModelEndpoint) map[string]availability {
	out := map[string]availability{}
	for _, t := range me.Spec.Targets {
		a := availability{available: true}
		for _, old := range me.Status.Targets {
			if old.Name == t.Name {
				a = availability{available: old.Available, message: old.Message}
			}
		}
		if me.Spec.Provider == breakwaterv1alpha1.ProviderBedrock && src.Catalog != nil {
			v, err := src.Catalog.Serves(ctx, t.Region, t.ModelID)
			if err != nil {
				src.ManagerMetrics.SourceError(managermetrics.SourceBedrock)
			}
			switch {
			case err != nil && !v.Stale:
				log.FromContext(ctx).Info("Bedrock catalogue unavailable; holding the target's availability", "target", t.Name, "error", err.Error())
			case v.Serves:
				a = availability{available: true}
			default:
				a = availability{available: false, message: truncate(fmt.Sprintf("%s does not serve %s: %s", t.Region, t.ModelID, v.Reason), maxShiftMessage)}
			}
		}
		out[t.Name] = a
	}
	return out
}

// endpointFigures reads the endpoint's live figures, all targets together, over window. It
// returns the previous figures when the source is missing or fails, so that a blind spot never
// reads as zero traffic; a figure Prometheus has no data for is left unset.
func endpointFigures(ctx context.Context, src Sources, me *breakwaterv1alpha1.ModelEndpoint, window time.Duration) *breakwaterv1alpha1.TrafficFigures {
	if src.Metrics == nil {
		return me.Status.Observed
	}
	scope := promsource.Scope{Namespace: me.Namespace, Endpoints: []string{me.Name}, Window: window, SumTargets: true}
	key := promsource.Key{Namespace: me.Namespace, Endpoint: me.Name}
	read := func(q func(context.Context, promsource.Scope) (promsource.Result[promsource.Key], error)) (float64, bool, error) {
		r, err := q(ctx, scope)
		if err != nil {
			return 0, false, err
		}
		v, ok := r.Get(key)
		return v, ok && !math.IsNaN(v), nil
	}
	now := metav1.NewTime(src.now().UTC().Truncate(time.Second))
	f := &breakwaterv1alpha1.TrafficFigures{Window: &metav1.Duration{Duration: window}, UpdatedAt: &now}
	steps := []struct {
		query func(context.Context, promsource.Scope) (promsource.Result[promsource.Key], error)
		set   func(float64)
	}{
		{src.Metrics.RequestRate, func(v float64) { f.RequestsPerSecond = decimal(v) }},
		{src.Metrics.ErrorRatio, func(v float64) { f.ErrorPercent = decimal(v * 100) }},
		{src.Metrics.ThrottleRatio, func(v float64) { f.ThrottlePercent = decimal(v * 100) }},
		{src.Metrics.LatencyP99, func(v float64) {
			if !math.IsInf(v, 0) { // above the largest bucket: no figure rather than a made-up one
				f.P99Latency = &metav1.Duration{Duration: secondsDuration(v).Round(time.Millisecond)}
			}
		}},
		{src.Metrics.TokensPerMinute, func(v float64) { tpm := int64(math.Round(max(v, 0))); f.TokensPerMinute = &tpm }},
	}
	for _, s := range steps {
		v, ok, err := read(s.query)
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

// decimal writes a figure with at most two decimals and no trailing zeros ("0.42", "12", "3.5").
func decimal(v float64) string {
	s := strconv.FormatFloat(max(v, 0), 'f', 2, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// steeringPolicy returns the FailoverPolicy whose weights the guards of the endpoint use, or nil
// (policy.SteeringPolicy, the renderer's choice too). It lists the namespace rather than the field
// index so that it works with any client, the manager's cache or a direct one.
func steeringPolicy(ctx context.Context, c client.Reader, me *breakwaterv1alpha1.ModelEndpoint) (*breakwaterv1alpha1.FailoverPolicy, error) {
	var list breakwaterv1alpha1.FailoverPolicyList
	if err := c.List(ctx, &list, client.InNamespace(me.Namespace)); err != nil {
		return nil, fmt.Errorf("listing the FailoverPolicies of %s: %w", me.Namespace, err)
	}
	return policy.SteeringPolicy(list.Items, me.Name), nil
}

// figuresWindow is the window of the steering policy's triggers, so that the endpoint's figures
// are the ones its failover decisions see; the policy default without one.
func figuresWindow(p *breakwaterv1alpha1.FailoverPolicy) time.Duration {
	if p != nil && p.Spec.Triggers.Window.Duration > 0 {
		return p.Spec.Triggers.Window.Duration
	}
	return policy.DefaultWindow
}
