package controllers

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/managermetrics"
	"github.com/breakwater-dev/breakwater/internal/policy"
	"github.com/breakwater-dev/breakwater/internal/promsource"
)

// defaultQuotaUsageWindow is the range the tokens-per-minute rate is taken over unless
// Sources.QuotaUsageWindow says otherwise: long enough to hold several scrapes, short enough that
// the quota reacts within a couple of evaluations.
const defaultQuotaUsageWindow = 2 * time.Minute

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

// dailyBudgets says whether the quota sets a budget per UTC day, which needs usage since 00:00 UTC.
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
	// refreshInterval (default 1h) paces how often AWS is asked; between reads the cached value is used.
	got, err := r.sources.Quotas.TokensPerMinute(ctx, sq.Region, sq.ServiceCode, sq.QuotaCode, sq.RefreshInterval.Duration)
	if err != nil {
		r.sources.ManagerMetrics.SourceError(managermetrics.SourceServiceQuotas)
	}
	if err != nil && !got.Stale {
		log.FromContext(ctx).Error(err, "Reading a Service Quotas limit failed", "quota", name)
		out.condition = metav1.Condition{Type: breakwaterv1alpha1.ConditionLimitResolved, Status: metav1.ConditionFalse,
			Reason: breakwaterv1alpha1.ReasonServiceQuotaUnavailable, Message: fmt.Sprintf("Reading %s failed: %v", name, err)}
		return out
	}
	out.tokensPerMinute = int64(math.Floor(got.Value))
	text := fmt.Sprintf("%d tokens/min", out.tokensPerMinute)
	out.texts = append([]string{text}, out.texts...)
	msg = fmt.Sprintf("%s from %s (%s value)", text, name, got.Source)
	if got.Stale {
		msg += fmt.Sprintf("; the last refresh failed, this value was read at %s", got.FetchedAt.UTC().Format(time.RFC3339))
	}
	out.condition = metav1.Condition{Type: breakwaterv1alpha1.ConditionLimitResolved, Status: metav1.ConditionTrue,
		Reason: breakwaterv1alpha1.ReasonServiceQuotaRead, Message: msg}
	return out
}

// measuredUsage is the quota's usage as far as it could be read.
type measuredUsage struct {
	// usage holds what every endpoint reported; a nil field was not measured.
	usage policy.QuotaUsage
	// lowerBound, when some endpoints did not report a figure, is usage with that figure summed
	// over the endpoints that did: usage is at least this high, which is enough to escalate but
	// never to relax. nil when nothing was partly measured.
	lowerBound *policy.QuotaUsage
	// complete is set when every figure the quota needs was measured.
	complete  bool
	condition metav1.Condition
}

// usageFigure is one figure summed over the quota's endpoints.
type usageFigure struct {
	sum     float64
	missing []string // endpoints without data
	err     error
}

func (f usageFigure) measured() bool { return f.err == nil && len(f.missing) == 0 }

// partly is the sum over the endpoints that reported when some did not.
func (f usageFigure) partly(all int) bool {
	return f.err == nil && len(f.missing) > 0 && len(f.missing) < all
}

// readFigure runs one query over the quota's endpoints and sums it per endpoint.
func readFigure(ctx context.Context, src promsource.Source, figure promsource.Figure,
	scope promsource.Scope, warnings *[]string) (usageFigure, map[string]float64) {
	res, err := src.Query(ctx, figure, scope)
	if err != nil {
		return usageFigure{err: err}, nil
	}
	*warnings = append(*warnings, res.Warnings...)
	perEndpoint := map[string]float64{}
	for k, v := range res.Values {
		perEndpoint[k.Endpoint] += v
	}
	var f usageFigure
	for _, n := range scope.Endpoints {
		v, ok := perEndpoint[n]
		if !ok {
			f.missing = append(f.missing, n)
			continue
		}
		f.sum += v
	}
	return f, perEndpoint
}

// measureUsage reads the quota's usage from the metric source: tokens per minute always, and with
// a daily budget tokens since 00:00 UTC and, for costPerDay, their cost and the cost per minute
// (which projects the cost to the end of the day). A source that is missing, fails, or has no data
// for an endpoint leaves the figure unmeasured (never zero).
func (r *TokenQuotaReconciler) measureUsage(ctx context.Context, q *breakwaterv1alpha1.TokenQuota) measuredUsage {
	unavailable := func(msg string) measuredUsage {
		return measuredUsage{condition: metav1.Condition{Type: breakwaterv1alpha1.ConditionMetricsAvailable,
			Status: metav1.ConditionFalse, Reason: breakwaterv1alpha1.ReasonMetricsUnavailable, Message: msg}}
	}
	src := r.sources.Metrics
	if src == nil {
		return unavailable("No metric source is configured (set the manager's Prometheus URL); the quota state is held")
	}
	names := refNames(q.Spec.Endpoints)
	scope := promsource.Scope{Namespace: q.Namespace, Endpoints: names, Window: r.sources.quotaUsageWindow(), SumTargets: true}
	var warnings []string
	fail := func(what string, err error) {
		r.sources.ManagerMetrics.SourceError(managermetrics.SourcePrometheus)
		log.FromContext(ctx).Error(err, "Reading token usage failed", "tokenQuota", q.Name, "figure", what)
	}
	tpm, _ := readFigure(ctx, src, promsource.QueryTokensPerMinute, scope, &warnings)
	if tpm.err != nil {
		fail("tokens per minute", tpm.err)
		return unavailable(fmt.Sprintf("Reading tokens per minute failed (%v); the quota state is held", tpm.err))
	}
	out := measuredUsage{}
	var partial policy.QuotaUsage
	partly := false
	round := func(v float64) *int64 { n := int64(math.Round(max(v, 0))); return &n }
	if tpm.measured() {
		out.usage.TokensPerMinute = round(tpm.sum)
	} else if tpm.partly(len(names)) {
		partial.TokensPerMinute, partly = round(tpm.sum), true
	}
	missing := tpm.missing
	var today, cost usageFigure
	daily := dailyBudgets(q.Spec.Limits)
	if daily {
		var tokensPerEndpoint map[string]float64
		today, tokensPerEndpoint = readFigure(ctx, src, promsource.QueryTokensToday, scope, &warnings)
		if today.err != nil {
			fail("tokens today", today.err)
			return unavailable(fmt.Sprintf("Reading tokens since 00:00 UTC failed (%v); the quota state is held", today.err))
		}
		if today.measured() {
			out.usage.TokensToday = round(today.sum)
		} else if today.partly(len(names)) {
			partial.TokensToday, partly = round(today.sum), true
		}
		missing = append(missing, today.missing...)
		if q.Spec.Limits.CostPerDay != nil {
			cost, _ = readFigure(ctx, src, promsource.QueryCostToday, scope, &warnings)
			if cost.err != nil {
				fail("cost today", cost.err)
				return unavailable(fmt.Sprintf("Reading cost since 00:00 UTC failed (%v); the quota state is held", cost.err))
			}
			// A target without a price adds no cost series: an endpoint whose guards counted tokens
			// today but no cost made no priced call, which is a cost of zero, not a missing figure.
			cost = zeroWhereCounted(cost, tokensPerEndpoint)
			if cost.measured() {
				out.usage.CostToday = money(cost.sum)
			} else if cost.partly(len(names)) {
				partial.CostToday, partly = money(cost.sum), true
			}
			// The cost rate only projects the cost to 00:00 UTC: without it, only what was spent counts.
			if rate, _ := readFigure(ctx, src, promsource.QueryCostPerMinute, scope, &warnings); rate.err != nil {
				fail("cost per minute", rate.err)
			} else if rate = zeroWhereCounted(rate, tokensPerEndpoint); rate.measured() {
				out.usage.CostPerMinute = money(rate.sum)
			}
		}
	}
	if partly {
		lb := out.usage
		for _, f := range []struct{ full, part **int64 }{{&lb.TokensPerMinute, &partial.TokensPerMinute}, {&lb.TokensToday, &partial.TokensToday}} {
			if *f.full == nil {
				*f.full = *f.part
			}
		}
		if lb.CostToday == nil {
			lb.CostToday = partial.CostToday
		}
		out.lowerBound = &lb
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		out.condition = unavailable(fmt.Sprintf("The metric source has no token usage of ModelEndpoint %s; the quota state is held "+
			"(it only escalates on what was measured)", namesList(slices.Compact(missing)))).condition
		return out
	}
	out.complete = true
	msg := fmt.Sprintf("Measured %d tokens/min over %d ModelEndpoints", *out.usage.TokensPerMinute, len(names))
	if daily {
		msg += fmt.Sprintf("; %d tokens", *out.usage.TokensToday)
		if out.usage.CostToday != nil {
			msg += fmt.Sprintf(" and %s USD", *out.usage.CostToday)
		}
		msg += " since 00:00 UTC"
	}
	if len(warnings) > 0 {
		msg += "; the metric source warned: " + strings.Join(warnings, "; ")
	}
	out.condition = metav1.Condition{Type: breakwaterv1alpha1.ConditionMetricsAvailable, Status: metav1.ConditionTrue,
		Reason: breakwaterv1alpha1.ReasonUsageMeasured, Message: msg}
	return out
}

// zeroWhereCounted counts an endpoint without a cost series as zero cost when its guards reported
// tokens today.
func zeroWhereCounted(f usageFigure, tokens map[string]float64) usageFigure {
	var still []string
	for _, n := range f.missing {
		if _, counted := tokens[n]; !counted {
			still = append(still, n)
		}
	}
	f.missing = still
	return f
}

// money turns dollars from the metric source into NanoUSD, rounded to a millionth of a dollar.
func money(dollars float64) *policy.NanoUSD {
	n := policy.NanoUSD(math.Round(max(dollars, 0)*1e6) * 1e3)
	return &n
}

// decideQuota hands the gathered inputs and the state kept in status to policy.QuotaState, which
// lets the sum of the endpoints that reported escalate the quota but never relax it.
func decideQuota(q *breakwaterv1alpha1.TokenQuota, limit resolvedLimit, usage measuredUsage, maxOutputTokens int64, now time.Time, minDwell time.Duration) (policy.QuotaPlan, error) {
	in, err := policy.QuotaSettings(q.Spec)
	if err != nil {
		return policy.QuotaPlan{}, err
	}
	in.Now, in.MinDwell = now, minDwell
	in.Limits.TokensPerMinute = limit.tokensPerMinute
	in.Usage = usage.usage
	in.Previous = q.Status.State
	if t := q.Status.LastTransitionTime; t != nil {
		in.PreviousSince = t.Time
	}
	in.MaxOutputTokens = maxOutputTokens
	in.UsageLowerBound = usage.lowerBound
	return policy.QuotaState(in), nil
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
	u := usage.usage
	if u.TokensPerMinute != nil || u.TokensToday != nil || u.CostToday != nil {
		if st.Usage == nil {
			st.Usage = &breakwaterv1alpha1.QuotaUsage{}
		}
		if u.TokensPerMinute != nil {
			st.Usage.TokensPerMinute = u.TokensPerMinute
		}
		if u.TokensToday != nil {
			st.Usage.TokensToday = u.TokensToday
		}
		if u.CostToday != nil {
			c := breakwaterv1alpha1.Money(u.CostToday.String())
			st.Usage.CostToday = &c
		}
	}
	if usage.complete {
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
