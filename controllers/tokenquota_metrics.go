package controllers

import (
	"k8s.io/apimachinery/pkg/types"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/managermetrics"
	"github.com/breakwater-dev/breakwater/internal/policy"
)

// recordQuotaMetrics sets the quota's gauges once its status is stored, and counts a new
// output-token clamp handed to the guards (through the stored state).
func (r *TokenQuotaReconciler) recordQuotaMetrics(q *breakwaterv1alpha1.TokenQuota, previous breakwaterv1alpha1.QuotaState,
	plan policy.QuotaPlan, maxOutputTokens int64, limit resolvedLimit, usage measuredUsage) {
	m := r.sources.ManagerMetrics
	if m == nil {
		return
	}
	if clamp := plan.OutputTokenClamp; clamp > 0 && clamp != policy.OutputTokenClamp(previous, maxOutputTokens) {
		m.Action(managermetrics.ActionClampOutput, plan.Reason, resultOf(q.Spec.Mode == breakwaterv1alpha1.ModeShadow, nil))
	}
	m.SetQuota(q.Namespace, q.Name, managermetrics.QuotaFigures{
		State:  policy.QuotaSeverity(q.Status.State),
		Ratios: usageRatios(q, limit, usage),
		Shed:   len(q.Status.ShedWorkloads),
	})
}

// usageRatios is measured usage over each limit that is set and measured (not the projection).
func usageRatios(q *breakwaterv1alpha1.TokenQuota, limit resolvedLimit, usage measuredUsage) map[string]float64 {
	out := map[string]float64{}
	u := usage.usage
	if limit.tokensPerMinute > 0 && u.TokensPerMinute != nil {
		out[managermetrics.LimitTokensPerMinute] = float64(*u.TokensPerMinute) / float64(limit.tokensPerMinute)
	}
	if l := q.Spec.Limits.TokensPerDay; l != nil && *l > 0 && u.TokensToday != nil {
		out[managermetrics.LimitTokensPerDay] = float64(*u.TokensToday) / float64(*l)
	}
	if l := q.Spec.Limits.CostPerDay; l != nil && u.CostToday != nil {
		if budget, err := policy.ParseMoney(string(*l)); err == nil && budget > 0 {
			out[managermetrics.LimitCostPerDay] = float64(*u.CostToday) / float64(budget)
		}
	}
	return out
}

// resultOf is the result label of an action: failed on an error, shadow in shadow mode.
func resultOf(shadow bool, err error) string {
	switch {
	case err != nil:
		return managermetrics.ResultFailed
	case shadow:
		return managermetrics.ResultShadow
	}
	return managermetrics.ResultApplied
}

// shadowPlanChanged remembers the quota's shadow scale plan (reason and message; "" for none)
// and reports whether it differs from the one remembered. The memory is the manager's: after a
// restart the current plan is recorded once more.
func (r *TokenQuotaReconciler) shadowPlanChanged(q *breakwaterv1alpha1.TokenQuota, plan string) bool {
	key := types.NamespacedName{Namespace: q.Namespace, Name: q.Name}
	old, loaded := r.shadowPlans.Swap(key, plan)
	if !loaded {
		return plan != ""
	}
	return old.(string) != plan
}

func (r *TokenQuotaReconciler) forgetShadowPlan(key types.NamespacedName) {
	r.shadowPlans.Delete(key)
}
