package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/managermetrics"
	"github.com/breakwater-dev/breakwater/internal/policy"
)

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
	in.FailedFailbacks = p.Status.FailedFailbacks
	if ls := p.Status.LastShift; ls != nil && ls.Reason == breakwaterv1alpha1.ReasonFailback {
		in.LastFailbackTo = ls.To
	}
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
	p.Status.FailedFailbacks = plan.FailedFailbacks
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

func lastShiftTime(p *breakwaterv1alpha1.FailoverPolicy) time.Time {
	if p.Status.LastShift == nil {
		return time.Time{}
	}
	return p.Status.LastShift.Time.Time
}
