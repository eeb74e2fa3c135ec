package controllers

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

// TokenQuotaReconciler checks each TokenQuota's endpoints and limits and reports its state.
type TokenQuotaReconciler struct {
	client.Client
	status  statusWriter
	sources Sources
}

// Reconcile resolves the quota's endpoints and limits and writes its conditions and state.
func (r *TokenQuotaReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	q := &breakwaterv1alpha1.TokenQuota{}
	if err := r.Get(ctx, req.NamespacedName, q); err != nil {
		return ctrl.Result{}, ignoreNotFound(err, "TokenQuota", req)
	}
	before := q.DeepCopy()
	var missing []string
	for _, ref := range q.Spec.Endpoints {
		found, err := getOptional(ctx, r.Client, q.Namespace, ref.Name, &breakwaterv1alpha1.ModelEndpoint{})
		if err != nil {
			return ctrl.Result{}, err
		}
		if !found {
			missing = append(missing, ref.Name)
		}
	}
	setConditions(&q.Status.Conditions, q.Generation, quotaConditions(q, missing)...)
	q.Status.EffectiveTokensPerMinute = q.Spec.Limits.TokensPerMinute
	if static := staticLimits(q.Spec.Limits); len(static) > 0 {
		// The first static limit until usage is measured; the quota control loop will show the
		// binding one.
		q.Status.Limit = static[0]
	}
	if q.Status.State == "" {
		// Normal until usage is measured; the quota control loop owns every later change.
		q.Status.State = breakwaterv1alpha1.QuotaNormal
		now := metav1.Now()
		q.Status.LastTransitionTime = &now
	}
	q.Status.ObservedGeneration = q.Generation
	return ctrl.Result{}, r.status.write(ctx, before, q, before.Status.Conditions, q.Status.Conditions)
}

// staticLimits describes the spec's static limits for people, tokens per minute first.
func staticLimits(l breakwaterv1alpha1.QuotaLimits) []string {
	var static []string
	if l.TokensPerMinute != nil {
		static = append(static, fmt.Sprintf("%d tokens/min", *l.TokensPerMinute))
	}
	if l.TokensPerDay != nil {
		static = append(static, fmt.Sprintf("%d tokens/day", *l.TokensPerDay))
	}
	if l.CostPerDay != nil {
		static = append(static, fmt.Sprintf("%s USD/day", *l.CostPerDay))
	}
	return static
}

// quotaConditions decides Ready and LimitResolved from the missing endpoints and the limits.
func quotaConditions(q *breakwaterv1alpha1.TokenQuota, missingEndpoints []string) []metav1.Condition {
	static := staticLimits(q.Spec.Limits)
	limit := metav1.Condition{Type: breakwaterv1alpha1.ConditionLimitResolved, Status: metav1.ConditionTrue,
		Reason: breakwaterv1alpha1.ReasonStaticLimit, Message: "Static limits: " + strings.Join(static, ", ")}
	if sq := q.Spec.ServiceQuota; sq != nil {
		limit = metav1.Condition{Type: breakwaterv1alpha1.ConditionLimitResolved, Status: metav1.ConditionFalse,
			Reason:  breakwaterv1alpha1.ReasonServiceQuotaPending,
			Message: fmt.Sprintf("The tokens-per-minute limit of Service Quotas %s/%s in %s has not been read yet", sq.ServiceCode, sq.QuotaCode, sq.Region)}
	}
	switch {
	case len(missingEndpoints) > 0:
		return []metav1.Condition{readyFalse(breakwaterv1alpha1.ReasonEndpointNotFound,
			fmt.Sprintf("ModelEndpoint %s not found in namespace %s: create it or remove it from spec.endpoints",
				namesList(missingEndpoints), q.Namespace)), limit}
	case limit.Status != metav1.ConditionTrue:
		return []metav1.Condition{readyFalse(limit.Reason, limit.Message), limit}
	}
	return []metav1.Condition{readyTrue(fmt.Sprintf("Counting the usage of %d ModelEndpoints against %s",
		len(q.Spec.Endpoints), strings.Join(static, ", "))), limit}
}

// SetupWithManager watches TokenQuotas and the ModelEndpoints they name, through the index.
func (r *TokenQuotaReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&breakwaterv1alpha1.TokenQuota{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&breakwaterv1alpha1.ModelEndpoint{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				return requestsByIndex(ctx, r.Client, &breakwaterv1alpha1.TokenQuotaList{}, o.GetNamespace(), indexQuotaEndpoints, o.GetName())
			}), builder.WithPredicates(createOrDelete)).
		WithOptions(controllerOptions).
		Named("tokenquota").
		Complete(r)
}

// createOrDelete passes only creations and deletions: a reconciler that checks whether an object
// exists has nothing to learn from its updates.
var createOrDelete = predicate.Funcs{
	UpdateFunc:  func(event.UpdateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}
