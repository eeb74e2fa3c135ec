package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/managermetrics"
	"github.com/breakwater-dev/breakwater/internal/scaler"
)

// TokenQuotaReconciler measures each TokenQuota's usage against its limits, decides its state, and
// sheds or restores the GenAIWorkloads under it.
type TokenQuotaReconciler struct {
	client.Client
	status  statusWriter
	sources Sources
	// shadowPlans is the last shadow scale plan recorded per quota, so that its Event is recorded
	// when the plan changes, not on every evaluation.
	shadowPlans sync.Map // types.NamespacedName → string
	// admission is the store the guards share budgets in; nil: none.
	admission *admissionStore
	// learnedAnnounced is the learned percent last announced in an Event, per quota.
	learnedAnnounced sync.Map // types.NamespacedName → float64
	// live reads from the API server, not the cache: the scaler guards every write with the
	// resourceVersion it just read, and a cache that has not yet seen its previous write would
	// make each step conflict (and a stale read of a workload's annotations would misreport it).
	live client.Client
}

// Reconcile gathers the quota's endpoints, limit and usage, decides its state and scale plan with
// internal/policy, carries the plan out and writes the result in status. It runs again every
// interval, because usage changes without any object changing.
func (r *TokenQuotaReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	m := r.sources.ManagerMetrics
	defer m.ObserveEvaluation(managermetrics.LoopTokenQuota, time.Now())
	q := &breakwaterv1alpha1.TokenQuota{}
	if err := r.Get(ctx, req.NamespacedName, q); err != nil {
		if apierrors.IsNotFound(err) {
			m.ForgetQuota(req.Namespace, req.Name)
			r.forgetShadowPlan(req.NamespacedName)
			r.learnedAnnounced.Delete(req.NamespacedName)
		}
		return ctrl.Result{}, ignoreNotFound(err, "TokenQuota", req)
	}
	if !q.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, q)
	}
	if err := r.ensureFinalizer(ctx, q); err != nil {
		return ctrl.Result{}, err
	}
	before := q.DeepCopy()
	now := r.sources.now()
	endpoints, err := r.gatherEndpoints(ctx, q)
	if err != nil {
		return ctrl.Result{}, err
	}
	limit := r.resolveLimit(ctx, q)
	usage := r.measureUsage(ctx, q)
	admissionCond := r.observeAdmission(ctx, q, now, limit.tokensPerMinute)
	quotaPlan, err := decideQuota(q, learnedLimit(q, limit), usage, endpoints.maxOutputTokens, now, r.sources.QuotaMinDwell)
	if err != nil {
		// The API server validates costPerDay; a value it let through will not parse on a retry.
		setConditions(&q.Status.Conditions, q.Generation, readyFalse(breakwaterv1alpha1.ReasonInvalidLimit, fmt.Sprintf("spec.%v: fix the value", err)))
		return ctrl.Result{}, errors.Join(reconcile.TerminalError(err),
			r.status.write(ctx, before, q, before.Status.Conditions, q.Status.Conditions))
	}
	m.Decision(managermetrics.LoopTokenQuota, string(quotaPlan.State), quotaPlan.Reason)
	applyQuotaPlan(q, quotaPlan, usage, limit, now)
	shed, scaleErr := r.scaleWorkloads(ctx, q, quotaPlan, now)
	conds := append(quotaConditions(q, endpoints.missing, limit.condition), usage.condition)
	if admissionCond != nil {
		conds = append(conds, *admissionCond)
	}
	setConditions(&q.Status.Conditions, q.Generation, conds...)
	if scaleErr == nil {
		// Only a complete evaluation lists who is shed and stands for the spec's generation.
		q.Status.ShedWorkloads, q.Status.ObservedGeneration = shed, q.Generation
	}
	if err := r.status.write(ctx, before, q, before.Status.Conditions, q.Status.Conditions); err != nil {
		return ctrl.Result{}, err
	}
	r.recordQuotaMetrics(q, before.Status.State, quotaPlan, endpoints.maxOutputTokens, limit, usage)
	r.announceState(q, before.Status.State, quotaPlan)
	if scaleErr != nil {
		return ctrl.Result{}, scaleErr
	}
	return ctrl.Result{RequeueAfter: r.sources.requeueAfter()}, nil
}

// staticLimits describes the spec's static limits for people, tokens per minute first.
func staticLimits(l breakwaterv1alpha1.QuotaLimits) []string {
	var static []string
	if l.TokensPerMinute != nil {
		static = append(static, fmt.Sprintf("%d tokens/min", *l.TokensPerMinute))
	}
	if l.RequestsPerMinute != nil {
		static = append(static, fmt.Sprintf("%d requests/min", *l.RequestsPerMinute))
	}
	if l.TokensPerDay != nil {
		static = append(static, fmt.Sprintf("%d tokens/day", *l.TokensPerDay))
	}
	if l.CostPerDay != nil {
		static = append(static, fmt.Sprintf("%s USD/day", *l.CostPerDay))
	}
	return static
}

// quotaConditions decides Ready and LimitResolved from the missing endpoints and the limits:
// the spec's (a serviceQuota pending) or, when given, the LimitResolved the loop resolved. Ready
// does not wait for metrics: a quota whose usage cannot be measured is in force and holds its
// state, which MetricsAvailable explains.
func quotaConditions(q *breakwaterv1alpha1.TokenQuota, missingEndpoints []string, resolved ...metav1.Condition) []metav1.Condition {
	static := staticLimits(q.Spec.Limits)
	limit := metav1.Condition{Type: breakwaterv1alpha1.ConditionLimitResolved, Status: metav1.ConditionTrue,
		Reason: breakwaterv1alpha1.ReasonStaticLimit, Message: "Static limits: " + strings.Join(static, ", ")}
	if sq := q.Spec.ServiceQuota; sq != nil {
		limit = metav1.Condition{Type: breakwaterv1alpha1.ConditionLimitResolved, Status: metav1.ConditionFalse,
			Reason:  breakwaterv1alpha1.ReasonServiceQuotaPending,
			Message: fmt.Sprintf("The tokens-per-minute limit of Service Quotas %s/%s in %s has not been read yet", sq.ServiceCode, sq.QuotaCode, sq.Region)}
	}
	if len(resolved) > 0 {
		limit = resolved[0]
	}
	if q.Spec.ServiceQuota != nil && limit.Status == metav1.ConditionTrue && q.Status.EffectiveTokensPerMinute != nil {
		static = append([]string{fmt.Sprintf("%d tokens/min", *q.Status.EffectiveTokensPerMinute)}, static...)
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

// SetupWithManager watches TokenQuotas and the ModelEndpoints they name, through the index. Usage
// is polled (RequeueAfter), since no object changes when it does.
func (r *TokenQuotaReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.live == nil {
		live, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
		if err != nil {
			return fmt.Errorf("creating the TokenQuota loop's uncached client: %w", err)
		}
		r.live = client.WithFieldOwner(live, FieldOwner)
	}
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

// scalerFor acts on the workloads through the uncached client; it keeps no state of its own.
func (r *TokenQuotaReconciler) scalerFor() *scaler.Scaler { return &scaler.Scaler{Client: r.live} }

// createOrDelete passes only creations and deletions: a reconciler that checks whether an object
// exists has nothing to learn from its updates.
var createOrDelete = predicate.Funcs{
	UpdateFunc:  func(event.UpdateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}
