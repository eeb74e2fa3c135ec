package controllers

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/render"
)

// ModelEndpointReconciler reports each ModelEndpoint's targets and whether it can serve.
type ModelEndpointReconciler struct {
	client.Client
	status statusWriter
}

// Reconcile writes the endpoint's per-target status, active target and conditions.
func (r *ModelEndpointReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	me := &breakwaterv1alpha1.ModelEndpoint{}
	if err := r.Get(ctx, req.NamespacedName, me); err != nil {
		return ctrl.Result{}, ignoreNotFound(err, "ModelEndpoint", req)
	}
	before := me.DeepCopy()
	plan := planEndpoint(me.Spec)
	me.Status.Targets = plan.targets
	me.Status.ActiveTarget = plan.activeTarget
	setConditions(&me.Status.Conditions, me.Generation, plan.conditions...)
	me.Status.ObservedGeneration = me.Generation
	return ctrl.Result{}, r.status.write(ctx, before, me, before.Status.Conditions, me.Status.Conditions)
}

// endpointPlan is the status a ModelEndpoint should show.
type endpointPlan struct {
	targets      []breakwaterv1alpha1.TargetStatus
	activeTarget string
	conditions   []metav1.Condition
}

// planEndpoint decides a ModelEndpoint's status from its spec: each target's share of traffic as a
// percentage, and every target available until the guards' metrics (circuit state, validation in
// its region) say otherwise.
func planEndpoint(spec breakwaterv1alpha1.ModelEndpointSpec) endpointPlan {
	var p endpointPlan
	weights := make([]int32, 0, len(spec.Targets))
	for _, t := range spec.Targets {
		weights = append(weights, render.TargetWeight(t))
	}
	for i, pct := range percentages(weights) {
		p.targets = append(p.targets, breakwaterv1alpha1.TargetStatus{Name: spec.Targets[i].Name, Weight: pct, Available: true})
	}
	if i := largest(weights); i >= 0 {
		p.activeTarget = spec.Targets[i].Name
	}
	n := len(p.targets)
	p.conditions = []metav1.Condition{
		readyTrue(fmt.Sprintf("%d of %d targets available; active target %s", n, n, p.activeTarget)),
		{Type: breakwaterv1alpha1.ConditionDegraded, Status: metav1.ConditionFalse,
			Reason: breakwaterv1alpha1.ReasonAllTargetsAvailable, Message: fmt.Sprintf("All %d targets can take traffic", n)},
	}
	return p
}

// largest returns the index of the largest weight, the first one on a tie (targets are listed
// most preferred first), or -1 for none.
func largest(weights []int32) int {
	best := -1
	for i, w := range weights {
		if best < 0 || w > weights[best] {
			best = i
		}
	}
	return best
}

// percentages scales relative weights to whole percentages that sum to 100 (the status promises
// that), giving the rounding remainder to the largest fractions, earlier targets first on a tie.
func percentages(weights []int32) []int32 {
	var total int64
	for _, w := range weights {
		total += int64(w)
	}
	out := make([]int32, len(weights))
	if total == 0 {
		return out
	}
	rem := make([]int64, len(weights))
	var sum int64
	for i, w := range weights {
		out[i] = int32(int64(w) * 100 / total)
		rem[i] = int64(w) * 100 % total
		sum += int64(out[i])
	}
	for ; sum < 100; sum++ {
		best := 0
		for i := range rem {
			if rem[i] > rem[best] {
				best = i
			}
		}
		out[best]++
		rem[best] = -1
	}
	return out
}

// SetupWithManager watches ModelEndpoints; their status depends on their spec alone for now.
func (r *ModelEndpointReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&breakwaterv1alpha1.ModelEndpoint{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controllerOptions).
		Named("modelendpoint").
		Complete(r)
}
