package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/managermetrics"
	"github.com/breakwater-dev/breakwater/internal/policy"
	"github.com/breakwater-dev/breakwater/internal/scaler"
)

// quotaWorkload is one GenAIWorkload under the quota with what the loop read of its target.
type quotaWorkload struct {
	w      *breakwaterv1alpha1.GenAIWorkload
	target scaler.Target
	input  policy.WorkloadInput
}

// scaleWorkloads decides the scale plan for the workloads under the quota and carries it out,
// unless the quota is in shadow mode. It returns the workloads shed once the plan is applied.
func (r *TokenQuotaReconciler) scaleWorkloads(ctx context.Context, q *breakwaterv1alpha1.TokenQuota, qp policy.QuotaPlan, now time.Time) ([]string, error) {
	shadow := q.Spec.Mode == breakwaterv1alpha1.ModeShadow
	ws, err := r.gatherWorkloads(ctx, q, shadow, now)
	if err != nil {
		return nil, err
	}
	in := policy.ScaleInput{
		Now: now, State: qp.State, StateSince: qp.Since, Shadow: shadow, Cooldown: r.sources.ScaleCooldown,
		RecentSheds: fromMetaTimes(q.Status.RecentSheds),
		// A state that is only held was not measured: nobody is shed or restored on it.
		MetricsUnavailable: qp.Reason == breakwaterv1alpha1.ReasonMetricsUnavailable || qp.Reason == breakwaterv1alpha1.ReasonLimitUnresolved,
	}
	byName := map[string]*quotaWorkload{}
	for _, w := range ws {
		in.Workloads = append(in.Workloads, w.input)
		byName[w.w.Name] = w
	}
	plan := policy.Scale(in)
	if !plan.Apply {
		shadowPlan := ""
		if len(plan.Actions) > 0 {
			shadowPlan = plan.Reason + ": " + plan.Message
		}
		if r.shadowPlanChanged(q, shadowPlan) && shadowPlan != "" {
			// Shadow mode: the plan is recorded on the quota, once per new plan; nothing is scaled
			// or remembered.
			r.status.recorder.Eventf(q, nil, corev1.EventTypeNormal, plan.Reason, "ScaleShadow", "%s", plan.Message)
			for _, a := range plan.Actions {
				r.sources.ManagerMetrics.Action(scaleAction(a), a.Reason, managermetrics.ResultShadow)
			}
		}
		return shedNames(ws), nil
	}
	r.shadowPlanChanged(q, "") // a quota switched to enforce starts afresh if switched back
	q.Status.RecentSheds = toMetaTimes(plan.RecentSheds)
	var errs []error
	for _, a := range plan.Actions {
		err := r.act(ctx, byName[a.Workload], a, now)
		r.sources.ManagerMetrics.Action(scaleAction(a), a.Reason, resultOf(false, err))
		if err != nil {
			errs = append(errs, err)
		}
	}
	return shedNames(ws), errors.Join(errs...)
}

// scaleAction is the managermetrics action of a scale action.
func scaleAction(a policy.ScaleAction) string {
	if a.Restore {
		return managermetrics.ActionScaleUp
	}
	return managermetrics.ActionScaleDown
}

// gatherWorkloads lists the GenAIWorkloads calling any of the quota's endpoints (through the
// index), reads each target's replicas and brings each status in line with the target's
// annotations, so the policy sees what is really shed.
func (r *TokenQuotaReconciler) gatherWorkloads(ctx context.Context, q *breakwaterv1alpha1.TokenQuota, shadow bool, now time.Time) ([]*quotaWorkload, error) {
	seen := map[string]bool{}
	var out []*quotaWorkload
	for _, ep := range refNames(q.Spec.Endpoints) {
		var list breakwaterv1alpha1.GenAIWorkloadList
		if err := r.List(ctx, &list, client.InNamespace(q.Namespace), client.MatchingFields{indexWorkloadEndpoints: ep}); err != nil {
			return nil, fmt.Errorf("listing the GenAIWorkloads of ModelEndpoint %s/%s: %w", q.Namespace, ep, err)
		}
		for i := range list.Items {
			w := &list.Items[i]
			if seen[w.Name] || w.Spec.WorkloadRef == nil || !w.DeletionTimestamp.IsZero() {
				// A workload named by selector only has no replica count to scale.
				continue
			}
			seen[w.Name] = true
			qw, err := r.readWorkload(ctx, w, shadow, now)
			if err != nil {
				return nil, err
			}
			if qw != nil {
				out = append(out, qw)
			}
		}
	}
	return out, nil
}

// readWorkload reads the replicas and the scaler's annotations of w's target. It returns nil when
// the target does not exist (nothing to scale).
func (r *TokenQuotaReconciler) readWorkload(ctx context.Context, w *breakwaterv1alpha1.GenAIWorkload, shadow bool, now time.Time) (*quotaWorkload, error) {
	t := scaler.Target{Namespace: w.Namespace, Kind: w.Spec.WorkloadRef.Kind, Name: w.Spec.WorkloadRef.Name}
	if t.Kind == "" {
		t.Kind = "Deployment"
	}
	obj, err := targetObject(t)
	if err != nil {
		return nil, err
	}
	// Read live: the annotations decide whether the workload is shed (see TokenQuotaReconciler.live).
	if err := r.live.Get(ctx, client.ObjectKeyFromObject(obj), obj); apierrors.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("reading %s: %w", t, err)
	}
	scale := &autoscalingv1.Scale{}
	if err := r.live.SubResource("scale").Get(ctx, obj, scale); err != nil {
		return nil, fmt.Errorf("reading the scale of %s: %w", t, err)
	}
	qw := &quotaWorkload{w: w, target: t, input: policy.ScaleWorkload(w)}
	qw.input.Replicas = scale.Spec.Replicas
	if !shadow {
		if err := r.syncShedRecord(ctx, qw, obj.GetAnnotations(), now); err != nil {
			return nil, err
		}
	}
	// The Shed condition changes status on every shed and restore, so its transition time is the
	// last action, kept in the cluster across manager restarts.
	if c := apimeta.FindStatusCondition(qw.w.Status.Conditions, breakwaterv1alpha1.ConditionShed); c != nil {
		qw.input.LastAction = c.LastTransitionTime.Time
	}
	return qw, nil
}

func targetObject(t scaler.Target) (client.Object, error) {
	meta := metav1.ObjectMeta{Namespace: t.Namespace, Name: t.Name}
	switch t.Kind {
	case "Deployment":
		return &appsv1.Deployment{ObjectMeta: meta}, nil
	case "StatefulSet":
		return &appsv1.StatefulSet{ObjectMeta: meta}, nil
	}
	return nil, fmt.Errorf("cannot scale a %s: only Deployments and StatefulSets", t.Kind)
}

// syncShedRecord makes the workload's status agree with the annotations the scaler keeps on its
// target. A step the scaler left halfway (a manager stopped mid-shed or mid-restore) is finished
// first; the scaler makes that idempotent, so nothing is scaled twice.
func (r *TokenQuotaReconciler) syncShedRecord(ctx context.Context, qw *quotaWorkload, ann map[string]string, now time.Time) error {
	step := ann[scaler.AnnotationState]
	switch {
	case step == "shedding":
		res, err := r.scalerFor().Shed(ctx, qw.target, annotationFloor(ann, qw.input.MinReplicas))
		if err != nil {
			return fmt.Errorf("finishing the shed of %s: %w", qw.target, err)
		}
		return r.recordShed(ctx, qw, res, breakwaterv1alpha1.ReasonShedRecorded, fmt.Sprintf("Finished shedding %s: %s", qw.target, res.Message), now)
	case step == "restoring":
		res, err := r.scalerFor().Restore(ctx, qw.target)
		if err != nil {
			return fmt.Errorf("finishing the restore of %s: %w", qw.target, err)
		}
		return r.recordRestore(ctx, qw, breakwaterv1alpha1.ReasonRestoreRecorded, fmt.Sprintf("Finished restoring %s: %s", qw.target, res.Message), now)
	case step != "" && qw.w.Status.RememberedReplicas == nil:
		res, err := r.scalerFor().Shed(ctx, qw.target, annotationFloor(ann, qw.input.MinReplicas)) // reads only: already shed
		if err != nil {
			return fmt.Errorf("reading the shed state of %s: %w", qw.target, err)
		}
		return r.recordShed(ctx, qw, res, breakwaterv1alpha1.ReasonShedRecorded, fmt.Sprintf("%s was found shed by an earlier evaluation: %s", qw.target, res.Message), now)
	case step == "" && qw.w.Status.RememberedReplicas != nil:
		return r.recordRestore(ctx, qw, breakwaterv1alpha1.ReasonRestoreRecorded, fmt.Sprintf("%s was found restored by an earlier evaluation", qw.target), now)
	case step != "":
		return r.checkReverted(ctx, qw, ann, now)
	}
	return nil
}

// checkReverted reports a shed workload whose replicas someone set back, once, in its Shed
// condition; Breakwater does not scale it again (it would fight a GitOps tool or a person).
func (r *TokenQuotaReconciler) checkReverted(ctx context.Context, qw *quotaWorkload, ann map[string]string, now time.Time) error {
	res, err := r.scalerFor().Shed(ctx, qw.target, annotationFloor(ann, qw.input.MinReplicas)) // reads only: already shed
	if err != nil {
		return fmt.Errorf("reading the shed state of %s: %w", qw.target, err)
	}
	c := apimeta.FindStatusCondition(qw.w.Status.Conditions, breakwaterv1alpha1.ConditionShed)
	if res.Outcome != scaler.Reverted || c != nil && c.Reason == breakwaterv1alpha1.ReasonShedReverted {
		return nil
	}
	if err := r.writeWorkloadStatus(ctx, qw, func(st *breakwaterv1alpha1.GenAIWorkloadStatus, generation int64) {
		setConditions(&st.Conditions, generation, metav1.Condition{Type: breakwaterv1alpha1.ConditionShed,
			Status: metav1.ConditionTrue, Reason: breakwaterv1alpha1.ReasonShedReverted, Message: res.Message, LastTransitionTime: metav1.NewTime(now)})
	}); err != nil {
		return err
	}
	// The condition's status did not change, so the status writer tells no one: this Event does.
	r.status.recorder.Eventf(qw.w, nil, corev1.EventTypeWarning, breakwaterv1alpha1.ReasonShedReverted, "ShedCheck", "%s", res.Message)
	return nil
}

func annotationFloor(ann map[string]string, fallback int32) int32 {
	if n, err := strconv.ParseInt(ann[scaler.AnnotationFloor], 10, 32); err == nil && n >= 0 {
		return int32(n)
	}
	return max(fallback, 0)
}

// act carries out one scale action through the scaler and records it in the workload's status.
func (r *TokenQuotaReconciler) act(ctx context.Context, qw *quotaWorkload, a policy.ScaleAction, now time.Time) error {
	logger := log.FromContext(ctx).WithValues("genAIWorkload", klog.KObj(qw.w), "target", qw.target.String())
	if a.Restore {
		res, err := r.scalerFor().Restore(ctx, qw.target)
		if err != nil {
			return fmt.Errorf("restoring %s: %w", qw.target, err)
		}
		logger.Info("Restored a workload", "outcome", res.Outcome, "to", res.To)
		return r.recordRestore(ctx, qw, a.Reason, a.Message, now)
	}
	res, err := r.scalerFor().Shed(ctx, qw.target, a.To)
	if err != nil {
		return fmt.Errorf("shedding %s: %w", qw.target, err)
	}
	logger.Info("Shed a workload", "outcome", res.Outcome, "remembered", res.Remembered, "to", res.To)
	switch res.Outcome {
	case scaler.Shed, scaler.AlreadyShed:
		return r.recordShed(ctx, qw, res, a.Reason, a.Message, now)
	case scaler.Reverted:
		return r.recordShed(ctx, qw, res, breakwaterv1alpha1.ReasonShedReverted, res.Message, now)
	}
	return nil // AtFloor or NotFound: nothing was shed, nothing to remember
}

// recordShed marks the workload shed in status with the replicas the scaler remembered (the
// annotation's count, which is the one Restore returns to).
func (r *TokenQuotaReconciler) recordShed(ctx context.Context, qw *quotaWorkload, res scaler.Result, reason, message string, now time.Time) error {
	switch res.Outcome {
	case scaler.Shed, scaler.AlreadyShed, scaler.Reverted:
	default:
		return nil
	}
	remembered := res.Remembered
	qw.input.Remembered = &remembered
	return r.writeWorkloadStatus(ctx, qw, func(st *breakwaterv1alpha1.GenAIWorkloadStatus, generation int64) {
		st.State, st.RememberedReplicas = breakwaterv1alpha1.WorkloadShed, &remembered
		setConditions(&st.Conditions, generation, metav1.Condition{Type: breakwaterv1alpha1.ConditionShed,
			Status: metav1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: metav1.NewTime(now)})
	})
}

// recordRestore marks the workload active again and forgets its remembered replicas.
func (r *TokenQuotaReconciler) recordRestore(ctx context.Context, qw *quotaWorkload, reason, message string, now time.Time) error {
	qw.input.Remembered = nil
	return r.writeWorkloadStatus(ctx, qw, func(st *breakwaterv1alpha1.GenAIWorkloadStatus, generation int64) {
		st.State, st.RememberedReplicas = breakwaterv1alpha1.WorkloadActive, nil
		setConditions(&st.Conditions, generation, metav1.Condition{Type: breakwaterv1alpha1.ConditionShed,
			Status: metav1.ConditionFalse, Reason: reason, Message: message, LastTransitionTime: metav1.NewTime(now)})
	})
}

// writeWorkloadStatus records what was done to the workload in its status. The workload reconciler
// writes the same status (its config and pod count), so a conflict is expected: the change is made
// again on a fresh read, because the scaling it records has already happened and must not be
// reported as anything else by a later evaluation.
func (r *TokenQuotaReconciler) writeWorkloadStatus(ctx context.Context, qw *quotaWorkload, change func(*breakwaterv1alpha1.GenAIWorkloadStatus, int64)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		before := qw.w.DeepCopy()
		change(&qw.w.Status, qw.w.Generation)
		err := r.status.write(ctx, before, qw.w, before.Status.Conditions, qw.w.Status.Conditions)
		if apierrors.IsConflict(err) {
			fresh := &breakwaterv1alpha1.GenAIWorkload{}
			if gerr := r.live.Get(ctx, client.ObjectKeyFromObject(qw.w), fresh); gerr != nil {
				return fmt.Errorf("reading GenAIWorkload %s again: %w", client.ObjectKeyFromObject(qw.w), gerr)
			}
			qw.w = fresh
		}
		return err
	})
}

// shedNames lists the workloads shed now, for status.shedWorkloads.
func fromMetaTimes(ts []metav1.Time) []time.Time {
	out := make([]time.Time, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.Time)
	}
	return out
}

func toMetaTimes(ts []time.Time) []metav1.Time {
	if len(ts) == 0 {
		return nil
	}
	out := make([]metav1.Time, 0, len(ts))
	for _, t := range ts {
		out = append(out, metav1.NewTime(t))
	}
	return out
}

func shedNames(ws []*quotaWorkload) []string {
	var names []string
	for _, w := range ws {
		if w.input.Remembered != nil {
			names = append(names, w.w.Name)
		}
	}
	slices.Sort(names)
	return names
}
