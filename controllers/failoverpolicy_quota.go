package controllers

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/managermetrics"
	"github.com/breakwater-dev/breakwater/internal/policy"
	"github.com/breakwater-dev/breakwater/internal/promsource"
)

// targetQuota is a target's own tokens-per-minute quota.
type targetQuota struct {
	limit int64
	// tokenQuota names the TokenQuota it was read from, for logs.
	tokenQuota string
}

// quotasOfTargets finds each target's own tokens-per-minute quota: that of a TokenQuota in the
// policy's namespace that lists the endpoint and reads its limit from Service Quotas in the
// target's region (status.effectiveTokensPerMinute, which the TokenQuota loop keeps current). A
// TokenQuota with a static limit is a budget over all the endpoint's targets together, which moving
// weight between them does not change, so it is nobody's own quota. With several, the smallest
// limit counts. It lists the namespace rather than the field index so that it works with any
// client.
func quotasOfTargets(ctx context.Context, c client.Reader, p *breakwaterv1alpha1.FailoverPolicy, me *breakwaterv1alpha1.ModelEndpoint) (map[string]targetQuota, error) {
	var list breakwaterv1alpha1.TokenQuotaList
	if err := c.List(ctx, &list, client.InNamespace(p.Namespace)); err != nil {
		return nil, fmt.Errorf("listing the TokenQuotas of %s: %w", p.Namespace, err)
	}
	out := map[string]targetQuota{}
	for i := range list.Items {
		q := &list.Items[i]
		sq, limit := q.Spec.ServiceQuota, q.Status.EffectiveTokensPerMinute
		if sq == nil || limit == nil || *limit <= 0 || !q.DeletionTimestamp.IsZero() ||
			!slices.Contains(refNames(q.Spec.Endpoints), me.Name) {
			continue
		}
		for _, t := range me.Spec.Targets {
			if t.Region != sq.Region || !slices.Contains(p.Spec.Targets, t.Name) {
				continue
			}
			if old, ok := out[t.Name]; !ok || *limit < old.limit {
				out[t.Name] = targetQuota{limit: *limit, tokenQuota: q.Name}
			}
		}
	}
	return out, nil
}

// quotaFigures fills each target's quota usage and limit into its metrics, for the quotaPercent
// trigger, and returns each target's quota headroom (policy.QuotaHeadroom), for every target that
// has a quota of its own (quotasOfTargets). The target's usage is its tokens per minute through this
// endpoint's guards (none for a target without weight and no series) or, when CloudWatch reports
// more for its model in its region, the account-wide figure; the difference is usage from elsewhere,
// which the headroom leaves room for. A failed PromQL query fails the evaluation (the weights are
// held); a failed CloudWatch read only leaves the account-wide figure out.
func (r *FailoverPolicyReconciler) quotaFigures(ctx context.Context, p *breakwaterv1alpha1.FailoverPolicy, me *breakwaterv1alpha1.ModelEndpoint,
	quotaPercent int32, window time.Duration, weights map[string]int32, metrics map[string]*policy.TargetMetrics) (map[string]*int32, error) {
	quotas, err := quotasOfTargets(ctx, r.Client, p, me)
	if err != nil || len(quotas) == 0 {
		return nil, err
	}
	res, err := r.sources.Metrics.Query(ctx, promsource.QueryTokensPerMinute, promsource.Scope{Namespace: p.Namespace, Endpoints: []string{me.Name}, Window: window})
	if err != nil {
		r.sources.ManagerMetrics.SourceError(managermetrics.SourcePrometheus)
		return nil, fmt.Errorf("reading the tokens per minute of endpoint %s: %w", me.Name, err)
	}
	var endpointTPM float64
	for k, v := range res.Values {
		if k.Namespace == p.Namespace && k.Endpoint == me.Name {
			endpointTPM += v
		}
	}
	headroom := map[string]*int32{}
	for _, t := range me.Spec.Targets {
		q, ok := quotas[t.Name]
		m := metrics[t.Name]
		if !ok || m == nil {
			continue
		}
		tpm, ok := res.Get(promsource.Key{Namespace: p.Namespace, Endpoint: me.Name, Target: t.Name})
		if !ok && weights[t.Name] > 0 {
			// Requests and no token series: tokens unknown, so neither trigger nor bound.
			log.FromContext(ctx).V(1).Info("No token usage for a target with weight; its quota is not checked", "target", t.Name)
			continue
		}
		used := int64(math.Round(max(tpm, 0)))
		if account, ok := r.accountTokensPerMinute(ctx, me, t, window); ok && account > used {
			used = account
		}
		m.QuotaTokensPerMinute, m.QuotaLimit = used, q.limit
		headroom[t.Name] = policy.QuotaHeadroom(q.limit, used-int64(math.Round(max(tpm, 0))), int64(math.Round(endpointTPM)), quotaPercent)
	}
	return headroom, nil
}

// accountTokensPerMinute is the account's tokens per minute for a Bedrock target's model in its
// region, from CloudWatch: what other applications use of the same quota counts too. false when
// there is no CloudWatch source, the target is not Bedrock or CloudWatch has no datapoints.
func (r *FailoverPolicyReconciler) accountTokensPerMinute(ctx context.Context, me *breakwaterv1alpha1.ModelEndpoint, t breakwaterv1alpha1.ModelTarget, window time.Duration) (int64, bool) {
	if r.sources.Usage == nil || me.Spec.Provider != breakwaterv1alpha1.ProviderBedrock || t.ModelID == "" {
		return 0, false
	}
	got, err := r.sources.Usage.Usage(ctx, t.Region, []string{t.ModelID}, window, r.sources.now())
	if err != nil {
		r.sources.ManagerMetrics.SourceError(managermetrics.SourceCloudWatch)
		log.FromContext(ctx).Info("CloudWatch usage unavailable; the target's quota counts this cluster's usage only", "target", t.Name, "error", err.Error())
		return 0, false
	}
	u, ok := got[t.ModelID]
	minutes := u.End.Sub(u.Start).Minutes()
	if !ok || u.InputTokenCount == nil || u.OutputTokenCount == nil || minutes <= 0 {
		return 0, false
	}
	return int64(math.Round((*u.InputTokenCount + *u.OutputTokenCount) / minutes)), true
}
