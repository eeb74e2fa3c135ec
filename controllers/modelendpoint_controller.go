package controllers

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/policy"
)

// ModelEndpointReconciler reports each ModelEndpoint's targets, their current weights (those of
// the FailoverPolicy that steers it), whether they can serve, and the endpoint's live figures.
type ModelEndpointReconciler struct {
	client.Client
	status  statusWriter
	sources Sources
}

// Reconcile writes the endpoint's per-target status, active target, figures and conditions.
func (r *ModelEndpointReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	me := &breakwaterv1alpha1.ModelEndpoint{}
	if err := r.Get(ctx, req.NamespacedName, me); err != nil {
		return ctrl.Result{}, ignoreNotFound(err, "ModelEndpoint", req)
	}
	before := me.DeepCopy()
	p, err := steeringPolicy(ctx, r.Client, me)
	if err != nil {
		return ctrl.Result{}, err
	}
	var steering []breakwaterv1alpha1.TargetWeight
	if p != nil {
		steering = p.Status.Weights
	}
	weights := policy.CurrentWeights(steering, me.Spec.Targets)
	plan := planEndpoint(me.Spec, weights, targetAvailability(ctx, r.sources, me))
	me.Status.Targets = plan.targets
	me.Status.ActiveTarget = plan.activeTarget
	me.Status.Observed = endpointFigures(ctx, r.sources, me, figuresWindow(p))
	setConditions(&me.Status.Conditions, me.Generation, plan.conditions...)
	me.Status.ObservedGeneration = me.Generation
	if err := r.status.write(ctx, before, me, before.Status.Conditions, me.Status.Conditions); err != nil {
		return ctrl.Result{}, err
	}
	// The figures and the catalogue change without any event to watch.
	return ctrl.Result{RequeueAfter: r.sources.requeueAfter()}, nil
}

// endpointPlan is the status a ModelEndpoint should show.
type endpointPlan struct {
	targets      []breakwaterv1alpha1.TargetStatus
	activeTarget string
	conditions   []metav1.Condition
}

// planEndpoint decides a ModelEndpoint's status from its spec, the current weights (percentages
// that sum to 100) and each target's availability. The circuit state stays unset until the
// guards' breaker state is read.
func planEndpoint(spec breakwaterv1alpha1.ModelEndpointSpec, weights map[string]int32, avail map[string]availability) endpointPlan {
	var p endpointPlan
	ordered := make([]int32, 0, len(spec.Targets))
	var unavailable []string
	for _, t := range spec.Targets {
		a := avail[t.Name]
		p.targets = append(p.targets, breakwaterv1alpha1.TargetStatus{Name: t.Name, Weight: weights[t.Name], Available: a.available, Message: a.message})
		ordered = append(ordered, weights[t.Name])
		if !a.available {
			unavailable = append(unavailable, t.Name)
		}
	}
	if i := largest(ordered); i >= 0 {
		p.activeTarget = spec.Targets[i].Name
	}
	n := len(p.targets)
	up := n - len(unavailable)
	ready := readyTrue(fmt.Sprintf("%d of %d targets available; active target %s", up, n, p.activeTarget))
	degraded := metav1.Condition{Type: breakwaterv1alpha1.ConditionDegraded, Status: metav1.ConditionFalse,
		Reason: breakwaterv1alpha1.ReasonAllTargetsAvailable, Message: fmt.Sprintf("All %d targets can take traffic", n)}
	if len(unavailable) > 0 {
		degraded.Status, degraded.Reason = metav1.ConditionTrue, breakwaterv1alpha1.ReasonTargetsUnavailable
		degraded.Message = fmt.Sprintf("Targets %s cannot take traffic; status.targets says why", namesList(unavailable))
	}
	if up == 0 {
		ready = readyFalse(breakwaterv1alpha1.ReasonTargetsUnavailable,
			fmt.Sprintf("None of the %d targets can take traffic; status.targets says why", n))
	}
	p.conditions = []metav1.Condition{ready, degraded}
	return p
}

// SetupWithManager watches ModelEndpoints, and the FailoverPolicies that steer them: a policy's
// status weights are the endpoint's weights, so every status change of one is watched.
func (r *ModelEndpointReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&breakwaterv1alpha1.ModelEndpoint{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&breakwaterv1alpha1.FailoverPolicy{}, handler.EnqueueRequestsFromMapFunc(
			func(_ context.Context, o client.Object) []reconcile.Request {
				p := o.(*breakwaterv1alpha1.FailoverPolicy)
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: p.Namespace, Name: p.Spec.EndpointRef.Name}}}
			})).
		WithOptions(controllerOptions).
		Named("modelendpoint").
		Complete(r)
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
