package controllers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/managermetrics"
	"github.com/breakwater-dev/breakwater/internal/policy"
	"github.com/breakwater-dev/breakwater/internal/promsource"
)

// errNoMetricSource is reported when the manager runs without a metric source.
var errNoMetricSource = errors.New("no metric source is configured (the manager's Prometheus URL)")

// targetMetrics reads each target's figures over the window. A query that fails fails them all
// (the decision holds). A target with no request series had no requests in the window when it has
// no weight (a drained or standby target gets no traffic) or when another target of the endpoint
// has a series (the endpoint's guards are scraped, and a target that just received weight has no
// series until its first request); when no target has one, nothing can be told from silence and
// every target with weight is unknown. A ratio or latency missing beside requests is unknown,
// never zero.
func (r *FailoverPolicyReconciler) targetMetrics(ctx context.Context, p *breakwaterv1alpha1.FailoverPolicy, tr policy.Triggers, window time.Duration, weights map[string]int32) (map[string]*policy.TargetMetrics, []string, error) {
	src := r.sources.Metrics
	if src == nil {
		return nil, nil, errNoMetricSource
	}
	scope := promsource.Scope{Namespace: p.Namespace, Endpoints: []string{p.Spec.EndpointRef.Name}, Window: window}
	type query struct {
		on     bool
		figure promsource.Figure
		out    *promsource.Result[promsource.Key]
	}
	var rate, errs, throttles, p99 promsource.Result[promsource.Key]
	queries := []query{
		// Attempts, not finished requests: a target whose every answer is a throttle the guards
		// route around finishes nothing, and its triggers must still fire.
		{true, promsource.QueryAttemptRate, &rate},
		{tr.ErrorRatePercent > 0, promsource.QueryErrorRatio, &errs},
		{tr.ThrottleRatePercent > 0, promsource.QueryThrottleRatio, &throttles},
		{tr.P99Latency > 0, promsource.QueryLatencyP99, &p99},
	}
	var warnings []string
	for _, q := range queries {
		if !q.on {
			continue
		}
		res, err := src.Query(ctx, q.figure, scope)
		if err != nil {
			r.sources.ManagerMetrics.SourceError(managermetrics.SourcePrometheus)
			return nil, nil, fmt.Errorf("reading the metrics of endpoint %s: %w", p.Spec.EndpointRef.Name, err)
		}
		*q.out = res
		warnings = append(warnings, res.Warnings...)
	}
	keyOf := func(target string) promsource.Key {
		return promsource.Key{Namespace: p.Namespace, Endpoint: p.Spec.EndpointRef.Name, Target: target}
	}
	scraped := slices.ContainsFunc(p.Spec.Targets, func(name string) bool {
		_, ok := rate.Get(keyOf(name))
		return ok
	})
	out := map[string]*policy.TargetMetrics{}
	for _, name := range p.Spec.Targets {
		key := keyOf(name)
		rps, ok := rate.Get(key)
		if !ok {
			if weights[name] == 0 || scraped {
				out[name] = &policy.TargetMetrics{}
			}
			continue
		}
		m := &policy.TargetMetrics{Requests: int64(math.Round(rps * window.Seconds()))}
		known := true
		if m.Requests > 0 {
			m.Errors, known = ratioCount(errs, key, m.Requests, tr.ErrorRatePercent > 0, known)
			m.Throttles, known = ratioCount(throttles, key, m.Requests, tr.ThrottleRatePercent > 0, known)
			if tr.P99Latency > 0 {
				v, ok := p99.Get(key)
				m.P99, known = secondsDuration(v), known && ok
			}
		}
		if known {
			out[name] = m
		}
	}
	return out, warnings, nil
}

// ratioCount turns a ratio into a count of requests; a ratio that was asked for and is missing
// makes the target's figures unknown.
func ratioCount(r promsource.Result[promsource.Key], key promsource.Key, requests int64, asked, known bool) (int64, bool) {
	if !asked {
		return 0, known
	}
	v, ok := r.Get(key)
	if !ok {
		return 0, false
	}
	return int64(math.Round(v * float64(requests))), known
}
