package controllers

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/policy"
	"github.com/breakwater-dev/breakwater/internal/promsource"
)

// defaultQuotaUsageWindow is the range the tokens-per-minute rate is taken over unless
// Sources.QuotaUsageWindow says otherwise: long enough to hold several scrapes, short enough that
// the quota reacts within a couple of evaluations.
const defaultQuotaUsageWindow = 2 * time.Minute

// Reasons of the TokenQuota conditions this loop sets besides the API's shared ones.
const (
	// reasonUsageMeasured: every endpoint's usage was read from the metric source.
	reasonUsageMeasured = "UsageMeasured"
	// reasonServiceQuotaRead: the tokens-per-minute limit was read from AWS Service Quotas.
	reasonServiceQuotaRead = "ServiceQuotaRead"
	// reasonServiceQuotaUnavailable: Service Quotas could not be read and no earlier value is known.
	reasonServiceQuotaUnavailable = "ServiceQuotaUnavailable"
	// reasonInvalidLimit: a limit of the spec cannot be read (the API server should have refused it).
	reasonInvalidLimit = "InvalidLimit"
)

// quotaEndpoints is what gathering learned from the quota's ModelEndpoints.
type quotaEndpoints struct {
	missing []string
	// maxOutputTokens is the smallest limits.maxOutputTokens among them; 0 when none sets one.
	maxOutputTokens int64
}

func (r *TokenQuotaReconciler) gatherEndpoints(ctx context.Context, q *breakwaterv1alpha1.TokenQuota) (quotaEndpoints, error) {
	var out quotaEndpoints
	for _, ref := range q.Spec.Endpoints {
		ep := &breakwaterv1alpha1.ModelEndpoint{}
		found, err := getOptional(ctx, r.Client, q.Namespace, ref.Name, ep)
		if err != nil {
			return out, err
		}
		if !found {
			out.missing = append(out.missing, ref.Name)
			continue
		}
		if m := ep.Spec.Limits.MaxOutputTokens; m != nil && (out.maxOutputTokens == 0 || *m < out.maxOutputTokens) {
			out.maxOutputTokens = *m
		}
	}
	return out, nil
}

// dailyBudgetsNote is added to LimitResolved while daily budgets cannot be enforced.
const dailyBudgetsNote = "; tokensPerDay and costPerDay are recorded but not enforced yet: this version measures tokens per minute only"

func dailyBudgets(l breakwaterv1alpha1.QuotaLimits) bool {
	return l.TokensPerDay != nil || l.CostPerDay != nil
}

// resolvedLimit is the tokens-per-minute limit in force and how it was found.
type resolvedLimit struct {
	// tokensPerMinute is the static or Service Quotas limit; 0 when none is known.
	tokensPerMinute int64
	// texts describe every known limit for people.
	texts     []string
	condition metav1.Condition
}

// resolveLimit takes the static limits of the spec and, for a serviceQuota, the value Service
// Quotas reports (the reader caches and refreshes it).
func (r *TokenQuotaReconciler) resolveLimit(ctx context.Context, q *breakwaterv1alpha1.TokenQuota) resolvedLimit {
	out := resolvedLimit{texts: staticLimits(q.Spec.Limits)}
	if l := q.Spec.Limits.TokensPerMinute; l != nil {
		out.tokensPerMinute = *l
	}
	msg := "Static limits: " + strings.Join(out.texts, ", ")
	if dailyBudgets(q.Spec.Limits) {
		msg += dailyBudgetsNote
	}
	out.condition = metav1.Condition{Type: breakwaterv1alpha1.ConditionLimitResolved, Status: metav1.ConditionTrue,
		Reason: breakwaterv1alpha1.ReasonStaticLimit, Message: msg}
	sq := q.Spec.ServiceQuota
	if sq == nil {
		return out
	}
	name := fmt.Sprintf("Service Quotas %s/%s in %s", sq.ServiceCode, sq.QuotaCode, sq.Region)
	if r.sources.Quotas == nil {
		out.condition = metav1.Condition{Type: breakwaterv1alpha1.ConditionLimitResolved, Status: metav1.ConditionFalse,
			Reason:  breakwaterv1alpha1.ReasonServiceQuotaPending,
			Message: fmt.Sprintf("The tokens-per-minute limit of %s has not been read yet: the manager runs without AWS access", name)}
		return out
	}
	got, err := r.sources.Quotas.TokensPerMinute(ctx, sq.Region, sq.ServiceCode, sq.QuotaCode)
	if err != nil && !got.Stale {
		log.FromContext(ctx).Error(err, "Reading a Service Quotas limit failed", "quota", name)
		out.condition = metav1.Condition{Type: breakwaterv1alpha1.ConditionLimitResolved, Status: metav1.ConditionFalse,
			Reason: reasonServiceQuotaUnavailable, Message: fmt.Sprintf("Reading %s failed: %v", name, err)}
		return out
	}
	out.tokensPerMinute = int64(math.Floor(got.Value))
	text := fmt.Sprintf("%d tokens/min", out.tokensPerMinute)
	out.texts = append([]string{text}, out.texts...)
	msg = fmt.Sprintf("%s from %s (%s value)", text, name, got.Source)
	if got.Stale {
		msg += fmt.Sprintf("; the last refresh failed, this value was read at %s", got.FetchedAt.UTC().Format(time.RFC3339))
	}
	if dailyBudgets(q.Spec.Limits) {
		msg += dailyBudgetsNote
	}
	out.condition = metav1.Condition{Type: breakwaterv1alpha1.ConditionLimitResolved, Status: metav1.ConditionTrue,
		Reason: reasonServiceQuotaRead, Message: msg}
	return out
}

// measuredUsage is the quota's usage as far as it could be read.
type measuredUsage struct {
	// usage holds what every endpoint reported; a nil field was not measured.
	usage policy.QuotaUsage
	// lowerBound is the sum over the endpoints that did report when some did not: usage is at
	// least this high, which is enough to escalate but never to relax.
	lowerBound *int64
	condition  metav1.Condition
}

// measureUsage reads the quota's tokens per minute from the metric source. A source that is
// missing, fails, or has no data for an endpoint leaves the figure unmeasured (never zero).
func (r *TokenQuotaReconciler) measureUsage(ctx context.Context, q *breakwaterv1alpha1.TokenQuota, now time.Time) measuredUsage {
	unavailable := func(msg string) measuredUsage {
		return measuredUsage{condition: metav1.Condition{Type: breakwaterv1alpha1.ConditionMetricsAvailable,
			Status: metav1.ConditionFalse, Reason: breakwaterv1alpha1.ReasonMetricsUnavailable, Message: msg}}
	}
	if r.sources.Metrics == nil {
		return unavailable("No metric source is configured (set the manager's Prometheus URL); the quota state is held")
	}
	names := refNames(q.Spec.Endpoints)
	res, err := r.sources.Metrics.TokensPerMinute(ctx, promsource.Scope{
		Namespace: q.Namespace, Endpoints: names, Window: r.sources.quotaUsageWindow(), SumTargets: true})
	if err != nil {
		log.FromContext(ctx).Error(err, "Reading token usage failed", "tokenQuota", q.Name)
		return unavailable(fmt.Sprintf("Reading tokens per minute failed (%v); the quota state is held", err))
	}
	perEndpoint := map[string]float64{}
	for k, v := range res.Values {
		perEndpoint[k.Endpoint] += v
	}
	var sum float64
	var missing []string
	for _, n := range names {
		v, ok := perEndpoint[n]
		if !ok {
			missing = append(missing, n)
			continue
		}
		sum += v
	}
	total := int64(math.Round(sum))
	if len(missing) > 0 {
		m := unavailable(fmt.Sprintf("The metric source has no token usage of ModelEndpoint %s; the quota state is held "+
			"(it only escalates on what was measured)", namesList(missing)))
		if len(missing) < len(names) {
			m.lowerBound = &total
		}
		return m
	}
	msg := fmt.Sprintf("Measured %d tokens/min over %d ModelEndpoints", total, len(names))
	if len(res.Warnings) > 0 {
		msg += "; the metric source warned: " + strings.Join(res.Warnings, "; ")
	}
	return measuredUsage{usage: policy.QuotaUsage{TokensPerMinute: &total},
		condition: metav1.Condition{Type: breakwaterv1alpha1.ConditionMetricsAvailable, Status: metav1.ConditionTrue,
			Reason: reasonUsageMeasured, Message: msg}}
}

// decideQuota hands the gathered inputs and the state kept in status to policy.QuotaState. When
// only some endpoints reported, their sum may escalate the quota but never relax it.
func decideQuota(q *breakwaterv1alpha1.TokenQuota, limit resolvedLimit, usage measuredUsage, maxOutputTokens int64, now time.Time, minDwell time.Duration) (policy.QuotaPlan, error) {
	in, err := policy.QuotaSettings(q.Spec)
	if err != nil {
		return policy.QuotaPlan{}, err
	}
	in.Now, in.MinDwell = now, minDwell
	in.Limits.TokensPerMinute = limit.tokensPerMinute
	// Daily usage is not measured yet (no query for usage since 00:00 UTC): a daily budget the
	// policy saw as always unmeasured would hold any state it escalated to forever. Until the
	// query exists, decide on tokens per minute alone; LimitResolved says so.
	in.Limits.TokensPerDay, in.Limits.CostPerDay = 0, 0
	in.Usage = usage.usage
	in.Previous = q.Status.State
	if t := q.Status.LastTransitionTime; t != nil {
		in.PreviousSince = t.Time
	}
	in.MaxOutputTokens = maxOutputTokens
	plan := policy.QuotaState(in)
	if usage.lowerBound != nil {
		partial := in
		partial.Usage.TokensPerMinute = usage.lowerBound
		if p := policy.QuotaState(partial); p.Changed && severity(p.State) > severity(plan.State) {
			return p, nil
		}
	}
	return plan, nil
}

func severity(s breakwaterv1alpha1.QuotaState) int {
	return slices.Index([]breakwaterv1alpha1.QuotaState{breakwaterv1alpha1.QuotaNormal, breakwaterv1alpha1.QuotaWarning,
		breakwaterv1alpha1.QuotaShedding, breakwaterv1alpha1.QuotaExhausted}, s)
}

// applyQuotaPlan writes the decided state and the measured figures into status. Figures that
// could not be measured keep their last values (with their updatedAt), so status never shows a
// guess.
func applyQuotaPlan(q *breakwaterv1alpha1.TokenQuota, plan policy.QuotaPlan, usage measuredUsage, limit resolvedLimit, now time.Time) {
	st := &q.Status
	if st.State == "" || plan.Changed {
		since := plan.Since
		if since.IsZero() {
			since = now
		}
		st.LastTransitionTime = &metav1.Time{Time: since}
	}
	st.State = plan.State
	if plan.UsedPercent != "" {
		st.UsedPercent = plan.UsedPercent
		st.Limit = plan.LimitText
	} else if st.Limit == "" && len(limit.texts) > 0 {
		// The first known limit until usage is measured and names the binding one.
		st.Limit = limit.texts[0]
	}
	if limit.tokensPerMinute > 0 {
		st.EffectiveTokensPerMinute = &limit.tokensPerMinute
	}
	if tpm := usage.usage.TokensPerMinute; tpm != nil {
		if st.Usage == nil {
			st.Usage = &breakwaterv1alpha1.QuotaUsage{}
		}
		st.Usage.TokensPerMinute = tpm
		st.Usage.UpdatedAt = &metav1.Time{Time: now}
	}
}

// announceState records the quota's state change as an Event, once its status is stored; the
// plan's reason and message are the Event's, word for word.
func (r *TokenQuotaReconciler) announceState(q *breakwaterv1alpha1.TokenQuota, previous breakwaterv1alpha1.QuotaState, plan policy.QuotaPlan) {
	if !plan.Changed || (previous == "" && plan.State == breakwaterv1alpha1.QuotaNormal) {
		return
	}
	eventType := corev1.EventTypeWarning
	if plan.State == breakwaterv1alpha1.QuotaNormal {
		eventType = corev1.EventTypeNormal
	}
	r.status.recorder.Eventf(q, nil, eventType, plan.Reason, "Quota"+string(plan.State), "%s", plan.Message)
}

// jittered spreads the next evaluations of many quotas over a tenth of the interval, so they do
// not all query the metric source at once.
func jittered(d time.Duration) time.Duration {
	return d + rand.N(d/10+1)
}
