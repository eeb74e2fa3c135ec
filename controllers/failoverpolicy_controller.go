package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/managermetrics"
	"github.com/breakwater-dev/breakwater/internal/policy"
)

// FailoverPolicyReconciler checks each FailoverPolicy against its ModelEndpoint and runs the
// failover control loop: it shifts the endpoint's weights away from targets whose metrics fire a
// trigger and back once they are stable (failoverpolicy_loop.go).
type FailoverPolicyReconciler struct {
	client.Client
	status  statusWriter
	sources Sources
}

// Reconcile resolves the policy's endpoint and targets, evaluates the failover loop and writes its
// weights and conditions.
func (r *FailoverPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	defer r.sources.ManagerMetrics.ObserveEvaluation(managermetrics.LoopFailover, time.Now())
	p := &breakwaterv1alpha1.FailoverPolicy{}
	if err := r.Get(ctx, req.NamespacedName, p); err != nil {
		if apierrors.IsNotFound(err) {
			r.sources.ManagerMetrics.ForgetPolicy(req.Namespace, req.Name)
		}
		return ctrl.Result{}, ignoreNotFound(err, "FailoverPolicy", req)
	}
	before := p.DeepCopy()
	me := &breakwaterv1alpha1.ModelEndpoint{}
	found, err := getOptional(ctx, r.Client, p.Namespace, p.Spec.EndpointRef.Name, me)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !found {
		me = nil
	}
	plan := planPolicy(p, me)
	setConditions(&p.Status.Conditions, p.Generation, plan.conditions...)
	var out failoverOutcome
	if plan.ready {
		out = r.evaluateFailover(ctx, p, me)
		setConditions(&p.Status.Conditions, p.Generation, readyTrue(fmt.Sprintf("Steering ModelEndpoint %q between %s; active target %s",
			me.Name, namesList(p.Spec.Targets), p.Status.ActiveTarget)))
	} else {
		p.Status.Weights = plan.weights
		p.Status.ActiveTarget = plan.activeTarget
	}
	p.Status.ObservedGeneration = p.Generation
	err = r.status.write(ctx, before, p, before.Status.Conditions, p.Status.Conditions)
	r.recordMetrics(p, out, err)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.recordShift(p, before.Status.Conditions, out)
	// Metrics change without any event to watch: evaluate again after the interval.
	return ctrl.Result{RequeueAfter: r.sources.requeueAfter()}, nil
}

// recordMetrics counts the evaluation's decision and shift (failed when its status could not be
// stored, since the guards take their weights from status) and sets the weights in force.
func (r *FailoverPolicyReconciler) recordMetrics(p *breakwaterv1alpha1.FailoverPolicy, out failoverOutcome, writeErr error) {
	m := r.sources.ManagerMetrics
	if out.decision != "" {
		m.Decision(managermetrics.LoopFailover, out.decision, out.reason)
	}
	if out.shift != nil {
		result := managermetrics.ResultApplied
		switch {
		case writeErr != nil:
			result = managermetrics.ResultFailed
		case out.shadow:
			result = managermetrics.ResultShadow
		}
		m.Action(managermetrics.ActionShiftWeights, out.shift.Reason, result)
	}
	if writeErr != nil {
		return
	}
	weights := make(map[string]int32, len(p.Status.Weights))
	for _, tw := range p.Status.Weights {
		weights[tw.Target] = tw.Weight
	}
	m.SetWeights(p.Namespace, p.Name, weights)
}

// policyPlan is the status a FailoverPolicy should show.
type policyPlan struct {
	weights      []breakwaterv1alpha1.TargetWeight
	activeTarget string
	conditions   []metav1.Condition
	// ready is true when the endpoint and every target resolved: the failover loop takes over.
	ready bool
}

// planPolicy decides a FailoverPolicy's status from its spec and its endpoint (nil when missing).
// The weights are the endpoint's spec weights; once ready, the failover loop decides them instead.
func planPolicy(p *breakwaterv1alpha1.FailoverPolicy, me *breakwaterv1alpha1.ModelEndpoint) policyPlan {
	if me == nil {
		return policyPlan{conditions: []metav1.Condition{readyFalse(breakwaterv1alpha1.ReasonEndpointNotFound,
			fmt.Sprintf("ModelEndpoint %q not found in namespace %s: create it or change spec.endpointRef",
				p.Spec.EndpointRef.Name, p.Namespace))}}
	}
	var plan policyPlan
	names := make([]string, 0, len(me.Spec.Targets))
	weights := make([]int32, 0, len(me.Spec.Targets))
	home := policy.HomeWeights(me.Spec.Targets)
	for _, t := range me.Spec.Targets {
		names = append(names, t.Name)
		weights = append(weights, policy.TargetWeight(t))
		plan.weights = append(plan.weights, breakwaterv1alpha1.TargetWeight{Target: t.Name, Weight: home[t.Name]})
	}
	if i := largest(weights); i >= 0 {
		plan.activeTarget = names[i]
	}
	var unknown []string
	for _, t := range p.Spec.Targets {
		if !slices.Contains(names, t) {
			unknown = append(unknown, t)
		}
	}
	if len(unknown) > 0 {
		plan.conditions = []metav1.Condition{readyFalse(breakwaterv1alpha1.ReasonTargetNotFound,
			fmt.Sprintf("ModelEndpoint %q has no target %s; its targets are %s: fix spec.targets",
				me.Name, namesList(unknown), namesList(names)))}
		return plan
	}
	plan.ready = true
	plan.conditions = []metav1.Condition{readyTrue(fmt.Sprintf("Steering ModelEndpoint %q between %s; active target %s",
		me.Name, namesList(p.Spec.Targets), plan.activeTarget))}
	return plan
}

// SetupWithManager watches FailoverPolicies and the ModelEndpoints they steer, through the index.
func (r *FailoverPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&breakwaterv1alpha1.FailoverPolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&breakwaterv1alpha1.ModelEndpoint{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				return requestsByIndex(ctx, r.Client, &breakwaterv1alpha1.FailoverPolicyList{}, o.GetNamespace(), indexPolicyEndpoint, o.GetName())
			}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controllerOptions).
		Named("failoverpolicy").
		Complete(r)
}
