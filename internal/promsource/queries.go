package promsource

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/breakwater-dev/breakwater/internal/metrics"
)

// Metric and label names of the guard, from internal/metrics where they are defined.
const (
	metricRequests       = metrics.NameRequestsTotal
	metricAttempts       = metrics.NameUpstreamAttemptsTotal
	metricTokens         = metrics.NameTokensTotal
	metricCost           = metrics.NameCostTotal
	metricDurationBucket = metrics.NameGenAIClientOperationDurationSeconds + "_bucket"

	labelEndpoint = metrics.LabelEndpoint
	labelTarget   = metrics.LabelTarget
	labelOutcome  = metrics.LabelOutcome
	labelType     = metrics.LabelType
	labelLe       = "le"

	// Set by the scrape job (see GuardRelabelConfigs), not by the guard.
	labelNamespace = "namespace"
	labelWorkload  = "workload"
)

// Token types of metricTokens that count toward usage; both are billed and both count against
// Bedrock's tokens-per-minute quotas.
var tokenTypes = []string{"input", "output"}

// ErrorOutcomes are the outcomes of breakwater_guard_requests_total that count as a target's
// errors: the target failed or went silent. Throttles are left out because they have their own
// trigger (ThrottleRatio); client_error, rejected and canceled are the app's or the guard's doing and
// say nothing about the target's health; degraded is a retrieval answer given in place of one.
var ErrorOutcomes = []string{metrics.OutcomeUpstreamError, metrics.OutcomeTimeout, metrics.OutcomeStreamInterrupted}

// Query names, used in errors so that a failure says which figure is missing without dumping PromQL.
const (
	QueryRequestRate             = "request_rate"
	QueryAttemptRate             = "attempt_rate"
	QueryErrorRatio              = "error_ratio"
	QueryThrottleRatio           = "throttle_ratio"
	QueryLatencyP99              = "latency_p99"
	QueryTokensPerMinute         = "tokens_per_minute"
	QueryCostPerMinute           = "cost_per_minute"
	QueryWorkloadTokensPerMinute = "workload_tokens_per_minute"
	QueryWorkloadCostPerMinute   = "workload_cost_per_minute"
	QueryTokensToday             = "tokens_today"
	QueryCostToday               = "cost_today"
)

// MinDayWindow is the shortest window of the usage-today queries. Just after 00:00 UTC the time
// since midnight holds fewer than two scrapes, which would give no data at all; the window is
// stretched to this instead, so that the first minutes of a day also count a few minutes of the
// day before (an over-count, never an under-count, of at most MinDayWindow's usage).
const MinDayWindow = 5 * time.Minute

// DayWindow is the window of the usage-today queries evaluated at at: the time since 00:00 UTC,
// rounded up to whole seconds, and at least MinDayWindow.
func DayWindow(at time.Time) time.Duration {
	at = at.UTC()
	midnight := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
	d := at.Sub(midnight)
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return max(d, MinDayWindow)
}

// RequestRateQuery is requests per second finished by the guard, every outcome, grouped per target
// (or per endpoint with Scope.SumTargets). Requests the guard refused before choosing a target count
// under target "".
func RequestRateQuery(s Scope) string {
	return fmt.Sprintf("sum by (%s) (rate(%s[%s]))", s.grouping(), selector(metricRequests, s), promDuration(s.Window))
}

// AttemptRateQuery is upstream attempts per second, grouped per target (or per endpoint with
// Scope.SumTargets): what each target was asked to do, retries and fallbacks included. A target
// that throttles every request the guard then sends elsewhere finishes no request but still has
// attempts, which is why a target's health is measured on attempts.
func AttemptRateQuery(s Scope) string {
	return fmt.Sprintf("sum by (%s) (rate(%s[%s]))", s.grouping(), selector(metricAttempts, s), promDuration(s.Window))
}

// ErrorRatioQuery is the fraction (0 to 1) of upstream attempts whose outcome is one of
// ErrorOutcomes: a target's own error rate, counting the failures a retry or fallback hid from the
// app. A target with attempts and no errors gets 0 (the "or 0 *" term supplies a zero for every
// attempt series the error selector does not match); a target with no attempts in the window gets
// no value rather than 0/0.
func ErrorRatioQuery(s Scope) string {
	return outcomeRatio(s, ErrorOutcomes)
}

// ThrottleRatioQuery is the fraction (0 to 1) of upstream attempts the target throttled, including
// the throttles a retry or fallback got past.
func ThrottleRatioQuery(s Scope) string {
	return outcomeRatio(s, []string{metrics.OutcomeThrottled})
}

// LatencyP99Query is the 99th percentile, in seconds, of gen_ai_client_operation_duration_seconds
// (app request to end of answer, retries included, failures included: a target that times out is
// slow). histogram_quantile gives NaN when the window holds no observation; ">= 0" drops it so
// that it reads as no data. It gives +Inf when the percentile is above the largest bucket (81.92s).
func LatencyP99Query(s Scope) string {
	return fmt.Sprintf("histogram_quantile(0.99, sum by (%s, %s) (rate(%s[%s]))) >= 0",
		s.grouping(), labelLe, selector(metricDurationBucket, s), promDuration(s.Window))
}

// TokensPerMinuteQuery is input plus output tokens per minute, as reported by the providers.
func TokensPerMinuteQuery(s Scope) string {
	return fmt.Sprintf("sum by (%s) (rate(%s[%s])) * 60",
		s.grouping(), selector(metricTokens, s, matchAny(labelType, tokenTypes)), promDuration(s.Window))
}

// CostPerMinuteQuery is US dollars per minute at the targets' configured prices.
func CostPerMinuteQuery(s Scope) string {
	return fmt.Sprintf("sum by (%s) (rate(%s[%s])) * 60", s.grouping(), selector(metricCost, s), promDuration(s.Window))
}

// WorkloadTokensPerMinuteQuery is input plus output tokens per minute per GenAIWorkload, over the
// scope's endpoints. It needs the workload label from the scrape job; series without it are left
// out rather than summed under an empty name.
func WorkloadTokensPerMinuteQuery(s Scope) string {
	return fmt.Sprintf("sum by (%s, %s) (rate(%s[%s])) * 60", labelNamespace, labelWorkload,
		selector(metricTokens, s, matchAny(labelType, tokenTypes), labelWorkload+`!=""`), promDuration(s.Window))
}

// WorkloadCostPerMinuteQuery is US dollars per minute per GenAIWorkload, over the scope's
// endpoints, with the same label needs as WorkloadTokensPerMinuteQuery.
func WorkloadCostPerMinuteQuery(s Scope) string {
	return fmt.Sprintf("sum by (%s, %s) (rate(%s[%s])) * 60", labelNamespace, labelWorkload,
		selector(metricCost, s, labelWorkload+`!=""`), promDuration(s.Window))
}

// TokensTodayQuery is input plus output tokens over the scope's window, which the Client sets to
// the time since 00:00 UTC (DayWindow): the tokens used today. increase() follows counter resets
// (a guard restarted) and counts guards that stopped during the day; it extrapolates to the window's
// edges, and the tokens a new guard counted before its first scrape are missed (the guard's
// counters have no zero sample), so the figure is exact to within about one scrape interval of
// usage.
func TokensTodayQuery(s Scope) string {
	return fmt.Sprintf("sum by (%s) (increase(%s[%s]))",
		s.grouping(), selector(metricTokens, s, matchAny(labelType, tokenTypes)), promDuration(s.Window))
}

// CostTodayQuery is US dollars over the scope's window (the time since 00:00 UTC, see
// TokensTodayQuery).
func CostTodayQuery(s Scope) string {
	return fmt.Sprintf("sum by (%s) (increase(%s[%s]))", s.grouping(), selector(metricCost, s), promDuration(s.Window))
}

// outcomeRatio is sum(rate(requests with one of outcomes)) / sum(rate(all requests)) per group,
// with a zero numerator where a group had requests but none of those outcomes, and no value where
// the group had no requests.
func outcomeRatio(s Scope, outcomes []string) string {
	w := promDuration(s.Window)
	all := fmt.Sprintf("rate(%s[%s])", selector(metricAttempts, s), w)
	some := fmt.Sprintf("rate(%s[%s])", selector(metricAttempts, s, matchAny(labelOutcome, outcomes)), w)
	return fmt.Sprintf("sum by (%[1]s) (%[2]s or 0 * %[3]s) / (sum by (%[1]s) (%[3]s) > 0)", s.grouping(), some, all)
}

// grouping is the "by" clause of the per-target queries. namespace is always kept so that two
// namespaces' endpoints of the same name are never added together.
func (s Scope) grouping() string {
	if s.SumTargets {
		return labelNamespace + ", " + labelEndpoint
	}
	return labelNamespace + ", " + labelEndpoint + ", " + labelTarget
}

// selector is metric{matchers}: the scope's namespace and endpoints, then extra matchers.
func selector(metric string, s Scope, extra ...string) string {
	var m []string
	if s.Namespace != "" {
		m = append(m, labelNamespace+"="+strconv.Quote(s.Namespace))
	}
	if len(s.Endpoints) > 0 {
		m = append(m, matchAny(labelEndpoint, s.Endpoints))
	}
	m = append(m, extra...)
	if len(m) == 0 {
		return metric
	}
	return metric + "{" + strings.Join(m, ", ") + "}"
}

// matchAny matches label against any of values, literally: values are names from CRDs, never
// patterns, so regexp metacharacters in them are escaped.
func matchAny(label string, values []string) string {
	if len(values) == 1 {
		return label + "=" + strconv.Quote(values[0])
	}
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = regexp.QuoteMeta(v)
	}
	return label + "=~" + strconv.Quote(strings.Join(quoted, "|"))
}

// promDuration formats d as a PromQL duration in whole milliseconds (PromQL takes no fractions).
func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}
