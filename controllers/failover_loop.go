package controllers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/managermetrics"
	"github.com/breakwater-dev/breakwater/internal/policy"
	"github.com/breakwater-dev/breakwater/internal/promsource"
)

// maxShiftMessage is the API's bound on status.lastShift.message.
const maxShiftMessage = 1024

// requeueJitter spreads the evaluations of many objects created together over 10% of the
// interval, so they do not all query Prometheus in the same instant.
const requeueJitter = 0.1

// requeueAfter is when the next evaluation of a control loop is due.
func (s Sources) requeueAfter() time.Duration {
	return wait.Jitter(s.interval(), requeueJitter)
}

// failoverOutcome is what one evaluation wrote, for the Event recorded after the status patch.
type failoverOutcome struct {
	// shift is set when the plan changed the weights (or would have, in shadow mode).
	shift *breakwaterv1alpha1.WeightShift
	// shadow is set when the shift was only recorded (shadow mode).
	shadow bool
	// decision and reason are what the evaluation decided (managermetrics); empty when the loop
	// did not run.
	decision, reason string
}

// held is the outcome of an evaluation that could not read its metrics.
var held = failoverOutcome{decision: managermetrics.DecisionHold, reason: breakwaterv1alpha1.ReasonMetricsUnavailable}

// evaluateFailover is the failover control loop's step for a Ready policy: gather the weights,
// validations and metrics, call policy.Failover and write the plan into p.Status. On a metric
// source that is missing or fails it holds the weights and the FailedOver condition as they are.
func (r *FailoverPolicyReconciler) evaluateFailover(ctx context.Context, p *breakwaterv1alpha1.FailoverPolicy, me *breakwaterv1alpha1.ModelEndpoint) failoverOutcome {
	// metav1.Time keeps whole seconds: deciding on the stored precision keeps the cooldown
	// arithmetic of this evaluation and the next one identical.
	now := r.sources.now().UTC().Truncate(time.Second)
	current := policy.CurrentWeights(p.Status.Weights, me.Spec.Targets)
	home := policy.HomeWeights(me.Spec.Targets)
	validated, validation := r.validateTargets(ctx, p, me)
	setConditions(&p.Status.Conditions, p.Generation, validation)
	writeWeights(p, current)

	in := policy.FailoverSettings(p.Spec)
	in.Now, in.LastShift = now, lastShiftTime(p)
	window := in.Triggers.Window
	if window <= 0 {
		window = policy.DefaultWindow
	}
	metrics, warnings, err := r.targetMetrics(ctx, p, in.Triggers, window, current)
	if err != nil {
		setConditions(&p.Status.Conditions, p.Generation, metav1.Condition{Type: breakwaterv1alpha1.ConditionMetricsAvailable,
			Status: metav1.ConditionFalse, Reason: breakwaterv1alpha1.ReasonMetricsUnavailable,
			Message: fmt.Sprintf("%s; weights are held at %s until the metrics can be read", err, weightsText(current, me))})
		return held
	}
	headroom, err := r.quotaFigures(ctx, p, me, in.Triggers.QuotaPercent, window, current, metrics)
	if err != nil {
		setConditions(&p.Status.Conditions, p.Generation, metav1.Condition{Type: breakwaterv1alpha1.ConditionMetricsAvailable,
			Status: metav1.ConditionFalse, Reason: breakwaterv1alpha1.ReasonMetricsUnavailable,
			Message: fmt.Sprintf("%s; weights are held at %s until the metrics can be read", err, weightsText(current, me))})
		return held
	}
	for _, name := range p.Spec.Targets {
		in.Targets = append(in.Targets, policy.TargetInput{
			Name: name, Weight: current[name], HomeWeight: home[name], Validated: validated[name],
			Metrics: metrics[name], HeadroomPercent: headroom[name], HealthySince: policy.HealthySince(p.CreationTimestamp.Time, p.Status.LastShift, name, in.StablePeriod, window),
		})
	}
	plan := policy.Failover(in)
	if plan.Reason == breakwaterv1alpha1.ReasonMetricsUnavailable {
		// Some target with traffic has no data: hold everything, FailedOver included, as for a
		// failed source.
		setConditions(&p.Status.Conditions, p.Generation, metav1.Condition{Type: breakwaterv1alpha1.ConditionMetricsAvailable,
			Status: metav1.ConditionFalse, Reason: breakwaterv1alpha1.ReasonMetricsUnavailable, Message: plan.Message})
		return held
	}
	msg := fmt.Sprintf("Metrics of %s read over %s", namesList(p.Spec.Targets), window)
	if len(warnings) > 0 {
		msg += "; the metric source warned: " + strings.Join(warnings, "; ")
	}
	setConditions(&p.Status.Conditions, p.Generation, metav1.Condition{Type: breakwaterv1alpha1.ConditionMetricsAvailable,
		Status: metav1.ConditionTrue, Reason: breakwaterv1alpha1.ReasonMetricsRead, Message: msg})
	return applyFailoverPlan(p, me, plan, current, home)
}

// applyFailoverPlan writes the plan into p.Status: the weights only when the plan applies (never
// in shadow mode), lastShift on every change (in shadow mode too, so that the cooldown paces the
// shadow Events as it would pace real shifts), and FailedOver with the plan's reason and message.
func applyFailoverPlan(p *breakwaterv1alpha1.FailoverPolicy, me *breakwaterv1alpha1.ModelEndpoint, plan policy.FailoverPlan, current, home map[string]int32) failoverOutcome {
	weights := current
	if plan.Apply {
		weights = policy.MergeWeights(current, plan.Weights, p.Spec.Targets)
	}
	writeWeights(p, weights)
	out := failoverOutcome{decision: managermetrics.DecisionHold, reason: plan.Reason}
	if plan.Changed && len(plan.Moves) > 0 {
		out.shift = &breakwaterv1alpha1.WeightShift{Time: metav1.NewTime(plan.LastShift), Reason: plan.Reason,
			Message: truncate(plan.Message, maxShiftMessage), From: plan.Moves[0].From, To: plan.Moves[0].To}
		out.shadow = !plan.Apply
		p.Status.LastShift = out.shift
		out.decision = managermetrics.DecisionShift
		if plan.Reason == breakwaterv1alpha1.ReasonFailback {
			out.decision = managermetrics.DecisionFailback
		}
	}
	failedOver := metav1.ConditionFalse
	for _, t := range me.Spec.Targets {
		if weights[t.Name] != home[t.Name] {
			failedOver = metav1.ConditionTrue
		}
	}
	setConditions(&p.Status.Conditions, p.Generation, metav1.Condition{Type: breakwaterv1alpha1.ConditionFailedOver,
		Status: failedOver, Reason: plan.Reason, Message: plan.Message})
	return out
}

// recordShift records an Event for a shift whose FailedOver condition kept its status: the status
// writer announces only status changes, and every shift (or shadow decision) must be visible.
func (r *FailoverPolicyReconciler) recordShift(p *breakwaterv1alpha1.FailoverPolicy, oldConds []metav1.Condition, out failoverOutcome) {
	if out.shift == nil {
		return
	}
	oldCond := apimeta.FindStatusCondition(oldConds, breakwaterv1alpha1.ConditionFailedOver)
	newCond := apimeta.FindStatusCondition(p.Status.Conditions, breakwaterv1alpha1.ConditionFailedOver)
	if oldCond == nil || newCond == nil || oldCond.Status != newCond.Status {
		return // the status writer's Event already carries the plan's reason and message
	}
	r.status.recorder.Eventf(p, nil, eventTypeOf(newCond), out.shift.Reason, "Shift", "%s", out.shift.Message)
}

// eventTypeOf is Warning while traffic is away from its home weights, as the status writer's
// FailedOver Events are.
func eventTypeOf(c *metav1.Condition) string {
	if c.Status == metav1.ConditionTrue {
		return corev1.EventTypeWarning
	}
	return corev1.EventTypeNormal
}

// writeWeights sets status.weights in the endpoint's target order, and activeTarget.
func writeWeights(p *breakwaterv1alpha1.FailoverPolicy, weights map[string]int32) {
	p.Status.Weights = p.Status.Weights[:0:0]
	best := ""
	for _, tw := range sortedWeights(weights, p) {
		p.Status.Weights = append(p.Status.Weights, tw)
		if best == "" || tw.Weight > weights[best] {
			best = tw.Target
		}
	}
	p.Status.ActiveTarget = best
}

// sortedWeights lists weights with the policy's targets first, in its order of preference, then
// the endpoint's other targets by name, so that status reads the way the policy is written.
func sortedWeights(weights map[string]int32, p *breakwaterv1alpha1.FailoverPolicy) []breakwaterv1alpha1.TargetWeight {
	var out []breakwaterv1alpha1.TargetWeight
	for _, name := range p.Spec.Targets {
		if w, ok := weights[name]; ok {
			out = append(out, breakwaterv1alpha1.TargetWeight{Target: name, Weight: w})
		}
	}
	var rest []string
	for name := range weights {
		if !slices.Contains(p.Spec.Targets, name) {
			rest = append(rest, name)
		}
	}
	slices.Sort(rest)
	for _, name := range rest {
		out = append(out, breakwaterv1alpha1.TargetWeight{Target: name, Weight: weights[name]})
	}
	return out
}

func weightsText(weights map[string]int32, me *breakwaterv1alpha1.ModelEndpoint) string {
	parts := make([]string, 0, len(me.Spec.Targets))
	for _, t := range me.Spec.Targets {
		parts = append(parts, fmt.Sprintf("%s %d", t.Name, weights[t.Name]))
	}
	return strings.Join(parts, ", ")
}

func lastShiftTime(p *breakwaterv1alpha1.FailoverPolicy) time.Time {
	if p.Status.LastShift == nil {
		return time.Time{}
	}
	return p.Status.LastShift.Time.Time
}

// validateTargets asks the catalogue whether each bedrock target's region serves its model. A
// target that could not be checked counts as not validated; policy.Failover still lets traffic
// onto it when requireValidatedTargets is false.
func (r *FailoverPolicyReconciler) validateTargets(ctx context.Context, p *breakwaterv1alpha1.FailoverPolicy, me *breakwaterv1alpha1.ModelEndpoint) (map[string]bool, metav1.Condition) {
	validated := map[string]bool{}
	var notServed, unknown, problems []string
	for _, t := range me.Spec.Targets {
		if !slices.Contains(p.Spec.Targets, t.Name) {
			continue
		}
		if me.Spec.Provider != breakwaterv1alpha1.ProviderBedrock {
			validated[t.Name] = true // the catalogue knows Bedrock models only
			continue
		}
		if r.sources.Catalog == nil {
			unknown = append(unknown, t.Name)
			continue
		}
		v, err := r.sources.Catalog.Serves(ctx, t.Region, t.ModelID)
		if err != nil {
			r.sources.ManagerMetrics.SourceError(managermetrics.SourceBedrock)
		}
		switch {
		case err != nil && !v.Stale:
			unknown = append(unknown, t.Name)
			problems = append(problems, fmt.Sprintf("%s: %v", t.Name, err))
		case !v.Serves:
			notServed = append(notServed, t.Name)
			problems = append(problems, fmt.Sprintf("%s: %s", t.Name, v.Reason))
		default:
			validated[t.Name] = true
		}
	}
	cond := metav1.Condition{Type: breakwaterv1alpha1.ConditionTargetsValidated, Status: metav1.ConditionTrue, Reason: breakwaterv1alpha1.ReasonTargetsServed,
		Message: fmt.Sprintf("Targets %s serve their models in their regions", namesList(p.Spec.Targets))}
	if me.Spec.Provider != breakwaterv1alpha1.ProviderBedrock {
		cond.Message = fmt.Sprintf("No catalogue applies to %s targets; every target is a possible destination", me.Spec.Provider)
	}
	onto := "traffic is never moved onto them"
	if requireValidated := p.Spec.RequireValidatedTargets; requireValidated != nil && !*requireValidated {
		onto = "requireValidatedTargets is false, so traffic may still move onto them"
	}
	switch {
	case len(notServed) > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, breakwaterv1alpha1.ReasonTargetNotServed
		cond.Message = fmt.Sprintf("Targets %s do not serve their model (%s); %s", namesList(notServed), strings.Join(problems, "; "), onto)
	case len(unknown) > 0:
		why := "no Bedrock catalogue is configured"
		if len(problems) > 0 {
			why = strings.Join(problems, "; ")
		}
		cond.Status, cond.Reason = metav1.ConditionUnknown, breakwaterv1alpha1.ReasonValidationUnavailable
		cond.Message = fmt.Sprintf("Targets %s could not be validated (%s); %s", namesList(unknown), why, onto)
	}
	return validated, cond
}

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
		on  bool
		run func(context.Context, promsource.Scope) (promsource.Result[promsource.Key], error)
		out *promsource.Result[promsource.Key]
	}
	var rate, errs, throttles, p99 promsource.Result[promsource.Key]
	queries := []query{
		// Attempts, not finished requests: a target whose every answer is a throttle the guards
		// route around finishes nothing, and its triggers must still fire.
		{true, src.AttemptRate, &rate},
		{tr.ErrorRatePercent > 0, src.ErrorRatio, &errs},
		{tr.ThrottleRatePercent > 0, src.ThrottleRatio, &throttles},
		{tr.P99Latency > 0, src.LatencyP99, &p99},
	}
	var warnings []string
	for _, q := range queries {
		if !q.on {
			continue
		}
		res, err := q.run(ctx, scope)
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

// secondsDuration converts seconds; +Inf (above the histogram's largest bucket) becomes the
// longest duration, so that a latency trigger fires on it.
func secondsDuration(s float64) time.Duration {
	if math.IsInf(s, 1) || s*float64(time.Second) >= math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(s * float64(time.Second))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
