package policy

import (
	"fmt"
	"strings"
	"time"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

// Quota defaults. The thresholds repeat the API defaults so that a zero input means the same thing
// as an absent field; the others have no API field and are the package's choice.
const (
	DefaultWarnPercent = 80
	DefaultShedPercent = 90
	DefaultHardPercent = 100
	// DefaultHysteresisPoints is how far (in percentage points) usage must fall below a state's
	// threshold before the quota leaves that state. It is capped at half the threshold so that a
	// very low threshold can still be left.
	DefaultHysteresisPoints = 5
	// DefaultMinDwell is the least time a quota stays in a state before it may move down.
	DefaultMinDwell = 2 * time.Minute
	// DefaultClampFloor is the lowest output-token clamp handed down under Warning: below it most
	// answers would be cut off mid-sentence.
	DefaultClampFloor = 256
	// DefaultClampUnset is the clamp handed down under Warning when no endpoint of the quota sets
	// limits.maxOutputTokens.
	DefaultClampUnset = 1024
)

// Limit names the limit a usage percentage refers to.
type Limit string

// The limits a TokenQuota can set.
const (
	LimitTokensPerMinute Limit = "tokensPerMinute"
	LimitTokensPerDay    Limit = "tokensPerDay"
	LimitCostPerDay      Limit = "costPerDay"
)

// QuotaLimits are the limits in force; zero means the limit is not set.
type QuotaLimits struct {
	// TokensPerMinute is the static or Service Quotas limit of input plus output tokens per minute.
	TokensPerMinute int64
	// TokensPerDay is the budget of input plus output tokens per UTC day.
	TokensPerDay int64
	// CostPerDay is the budget of dollars per UTC day (see ParseMoney).
	CostPerDay NanoUSD
}

// QuotaUsage is measured usage summed over the quota's endpoints. A nil field is a metric that
// could not be read; it is never taken as zero.
type QuotaUsage struct {
	// TokensPerMinute is the current rate of input plus output tokens.
	TokensPerMinute *int64
	// TokensToday is input plus output tokens since 00:00 UTC.
	TokensToday *int64
	// CostToday is what TokensToday cost.
	CostToday *NanoUSD
	// CostPerMinute is the current spending rate; it projects CostToday to the end of the day.
	// Optional: without it only the cost already spent counts.
	CostPerMinute *NanoUSD
}

// QuotaInput is everything QuotaState needs. Zero values take the package defaults.
type QuotaInput struct {
	Now    time.Time
	Limits QuotaLimits
	Usage  QuotaUsage
	// UsageLowerBound, when some endpoints did not report a figure, is Usage with that figure
	// summed over the endpoints that did: usage is at least this high. It may escalate the quota
	// (a partial sum can only grow as the missing endpoints report) but never relax it. nil when
	// nothing was partly measured.
	UsageLowerBound *QuotaUsage

	// WarnPercent, ShedPercent and HardPercent are spec.thresholds (warn < shed <= hard).
	WarnPercent, ShedPercent, HardPercent int32

	// Previous is status.state ("" is Normal) and PreviousSince status.lastTransitionTime (zero:
	// unknown, the dwell time counts as served).
	Previous      breakwaterv1alpha1.QuotaState
	PreviousSince time.Time

	// MaxOutputTokens is the smallest limits.maxOutputTokens among the quota's endpoints; 0 when
	// none sets one. The Warning clamp is derived from it.
	MaxOutputTokens int64

	// HysteresisPoints, MinDwell and ClampFloor override DefaultHysteresisPoints, DefaultMinDwell
	// and DefaultClampFloor.
	HysteresisPoints int32
	MinDwell         time.Duration
	ClampFloor       int64
}

// QuotaPlan is the decided quota state.
type QuotaPlan struct {
	// State is the new status.state.
	State breakwaterv1alpha1.QuotaState
	// Changed is true when State differs from the input's Previous; the reconciler records an
	// Event and sets Since as status.lastTransitionTime.
	Changed bool
	Since   time.Time
	// UsedPercent is the highest usage among the limits, e.g. "73.5" (rounded down to a tenth);
	// empty when no usage is known.
	UsedPercent string
	// Binding is the limit UsedPercent refers to, and LimitText that limit for people, e.g.
	// "400000 tokens/min".
	Binding   Limit
	LimitText string
	// ProjectedPercent is the highest projected end-of-day usage of a daily budget, e.g. "112.4";
	// empty when nothing could be projected.
	ProjectedPercent string
	// OutputTokenClamp goes to the guards' quota.outputTokenClamp; 0 in Normal (no clamp).
	OutputTokenClamp int64

	Reason  string
	Message string
}

// measure is one limit with its usage, in tenths of a percent.
type measure struct {
	limit     Limit
	text      string
	missing   bool
	used      int64 // permille of the limit
	projected int64 // permille of the limit at the end of the UTC day; -1 when not projected
}

// QuotaState decides the quota's state from usage, projected usage and the previous state. A
// lower bound of usage (UsageLowerBound) decides instead when it calls for a stricter state.
func QuotaState(in QuotaInput) QuotaPlan {
	plan := quotaState(in)
	if in.UsageLowerBound != nil {
		partial := in
		partial.Usage, partial.UsageLowerBound = *in.UsageLowerBound, nil
		if p := quotaState(partial); p.Changed && QuotaSeverity(p.State) > QuotaSeverity(plan.State) {
			return p
		}
	}
	return plan
}

// quotaState decides from Usage alone.
func quotaState(in QuotaInput) QuotaPlan {
	in = in.withDefaults()
	prev := in.Previous
	if prev == "" {
		prev = breakwaterv1alpha1.QuotaNormal
	}
	ms := in.measures()
	if len(ms) == 0 {
		return in.hold(prev, QuotaPlan{}, breakwaterv1alpha1.ReasonLimitUnresolved,
			fmt.Sprintf("No limit is known yet; holding %s.", prev))
	}

	var plan QuotaPlan
	used, projected := int64(-1), int64(-1)
	var missing []string
	for _, m := range ms {
		if m.missing {
			missing = append(missing, string(m.limit))
			continue
		}
		if m.used > used {
			used, plan.Binding, plan.LimitText = m.used, m.limit, m.text
		}
		projected = max(projected, m.projected)
	}
	if used >= 0 {
		plan.UsedPercent = formatPermille(used)
	}
	if projected >= 0 {
		plan.ProjectedPercent = formatPermille(projected)
	}

	raw := in.level(used, projected, false)
	sticky := in.level(used, projected, true)
	switch {
	case QuotaSeverity(raw) > QuotaSeverity(prev):
		// Escalation is immediate, even on partial data: what was measured already proves usage is
		// at least this high.
		return in.change(prev, raw, plan, used, projected, missing)
	case len(missing) > 0:
		return in.hold(prev, plan, breakwaterv1alpha1.ReasonMetricsUnavailable, fmt.Sprintf(
			"Usage of %s could not be measured; holding %s until it can.", strings.Join(missing, ", "), prev))
	case QuotaSeverity(sticky) < QuotaSeverity(prev) && in.dwelt():
		return in.change(prev, sticky, plan, used, projected, nil)
	case QuotaSeverity(raw) < QuotaSeverity(prev):
		return in.hold(prev, plan, breakwaterv1alpha1.ReasonRecovering, in.recovering(prev, plan, used, projected))
	default:
		plan.State, plan.Since = prev, in.PreviousSince
		plan.OutputTokenClamp = in.clamp(prev)
		reason, why := in.explain(prev, plan, used, projected)
		plan.Reason, plan.Message = reason, capital(why)
		return plan
	}
}

func (in QuotaInput) withDefaults() QuotaInput {
	if in.WarnPercent <= 0 {
		in.WarnPercent = DefaultWarnPercent
	}
	if in.ShedPercent <= 0 {
		in.ShedPercent = DefaultShedPercent
	}
	if in.HardPercent <= 0 {
		in.HardPercent = DefaultHardPercent
	}
	if in.HysteresisPoints <= 0 {
		in.HysteresisPoints = DefaultHysteresisPoints
	}
	if in.MinDwell <= 0 {
		in.MinDwell = DefaultMinDwell
	}
	if in.ClampFloor <= 0 {
		in.ClampFloor = DefaultClampFloor
	}
	return in
}

// measures pairs each set limit with its usage. Daily budgets are also projected to the end of the
// UTC day at the current rate, when the rate is known.
func (in QuotaInput) measures() []measure {
	var ms []measure
	l, u := in.Limits, in.Usage
	left := untilEndOfUTCDay(in.Now)
	if l.TokensPerMinute > 0 {
		m := measure{limit: LimitTokensPerMinute, text: fmt.Sprintf("%d tokens/min", l.TokensPerMinute), projected: -1}
		if u.TokensPerMinute == nil {
			m.missing = true
		} else {
			m.used = permille(*u.TokensPerMinute, l.TokensPerMinute)
		}
		ms = append(ms, m)
	}
	if l.TokensPerDay > 0 {
		m := measure{limit: LimitTokensPerDay, text: fmt.Sprintf("%d tokens/day", l.TokensPerDay), projected: -1}
		if u.TokensToday == nil {
			m.missing = true
		} else {
			m.used = permille(*u.TokensToday, l.TokensPerDay)
			if u.TokensPerMinute != nil {
				m.projected = permille(project(*u.TokensToday, *u.TokensPerMinute, left), l.TokensPerDay)
			}
		}
		ms = append(ms, m)
	}
	if l.CostPerDay > 0 {
		m := measure{limit: LimitCostPerDay, text: fmt.Sprintf("%s USD/day", l.CostPerDay), projected: -1}
		if u.CostToday == nil {
			m.missing = true
		} else {
			m.used = permille(int64(*u.CostToday), int64(l.CostPerDay))
			if u.CostPerMinute != nil {
				m.projected = permille(project(int64(*u.CostToday), int64(*u.CostPerMinute), left), int64(l.CostPerDay))
			}
		}
		ms = append(ms, m)
	}
	return ms
}

// project is today's amount plus perMinute for the time left in the day.
func project(today, perMinute int64, left time.Duration) int64 {
	if perMinute <= 0 {
		return today
	}
	more := mulDiv(perMinute, int64(left/time.Second), 60)
	if more > (1<<62) || today > (1<<62) {
		return 1 << 62 // far over any budget; avoids overflow
	}
	return today + more
}

// level is the state usage calls for. leaving lowers every threshold by the hysteresis margin:
// it is the state the quota may fall back to.
func (in QuotaInput) level(used, projected int64, leaving bool) breakwaterv1alpha1.QuotaState {
	th := func(pct int32) int64 {
		t := int64(pct) * 10
		if leaving {
			t -= in.margin(t)
		}
		return t
	}
	switch {
	case used >= th(in.HardPercent):
		return breakwaterv1alpha1.QuotaExhausted
	case used >= th(in.ShedPercent):
		return breakwaterv1alpha1.QuotaShedding
	case used >= th(in.WarnPercent), projected >= th(100):
		return breakwaterv1alpha1.QuotaWarning
	default:
		return breakwaterv1alpha1.QuotaNormal
	}
}

// margin is the hysteresis margin for a threshold, both in tenths of a percent.
func (in QuotaInput) margin(threshold int64) int64 {
	return min(int64(in.HysteresisPoints)*10, threshold/2)
}

// exitPermille is the usage below which a state may be left.
func (in QuotaInput) exitPermille(s breakwaterv1alpha1.QuotaState) int64 {
	t := in.enterPermille(s)
	return t - in.margin(t)
}

func (in QuotaInput) enterPermille(s breakwaterv1alpha1.QuotaState) int64 {
	switch s {
	case breakwaterv1alpha1.QuotaExhausted:
		return int64(in.HardPercent) * 10
	case breakwaterv1alpha1.QuotaShedding:
		return int64(in.ShedPercent) * 10
	default:
		return int64(in.WarnPercent) * 10
	}
}

// enterText names the threshold that put the quota in state s, for messages.
func (in QuotaInput) enterText(s breakwaterv1alpha1.QuotaState) string {
	switch s {
	case breakwaterv1alpha1.QuotaExhausted:
		return fmt.Sprintf("%d%% hard", in.HardPercent)
	case breakwaterv1alpha1.QuotaShedding:
		return fmt.Sprintf("%d%% shed", in.ShedPercent)
	default:
		return fmt.Sprintf("%d%% warn", in.WarnPercent)
	}
}

// recovering says why a state is held although usage no longer calls for it: usage is still
// inside the hysteresis margin, the daily projection is, or the state is younger than the dwell.
func (in QuotaInput) recovering(prev breakwaterv1alpha1.QuotaState, plan QuotaPlan, used, projected int64) string {
	exit := in.exitPermille(prev)
	usage := fmt.Sprintf("Usage is %s%% of %s, below the %s threshold", plan.UsedPercent, plan.LimitText, in.enterText(prev))
	switch {
	case used >= exit:
		return fmt.Sprintf("%s; %s is held until usage is below %s%% and the state is at least %s old.",
			usage, prev, formatPermille(exit), in.MinDwell)
	case prev == breakwaterv1alpha1.QuotaWarning && projected >= 1000-in.margin(1000):
		return fmt.Sprintf("%s, but a daily budget is projected at %s%% by 00:00 UTC; Warning is held until the projection is below %s%%.",
			usage, plan.ProjectedPercent, formatPermille(1000-in.margin(1000)))
	default:
		return fmt.Sprintf("%s; %s is held until the state is at least %s old (since %s).",
			usage, prev, in.MinDwell, in.PreviousSince.UTC().Format(time.RFC3339))
	}
}

func (in QuotaInput) dwelt() bool {
	return in.PreviousSince.IsZero() || in.Now.Sub(in.PreviousSince) >= in.MinDwell
}

// OutputTokenClamp is the output-token clamp the guards apply in a quota state, given the smallest
// maxOutputTokens of the endpoints concerned (0 when none sets one): the rule QuotaState hands down,
// for the renderer of guard configs.
func OutputTokenClamp(state breakwaterv1alpha1.QuotaState, maxOutputTokens int64) int64 {
	return QuotaInput{MaxOutputTokens: maxOutputTokens, ClampFloor: DefaultClampFloor}.clamp(state)
}

// clamp is the output-token clamp for a state: none in Normal; otherwise half the endpoints'
// maxOutputTokens, at least ClampFloor, never above maxOutputTokens itself.
func (in QuotaInput) clamp(s breakwaterv1alpha1.QuotaState) int64 {
	if s == breakwaterv1alpha1.QuotaNormal || s == "" {
		return 0
	}
	if in.MaxOutputTokens <= 0 {
		return max(DefaultClampUnset, in.ClampFloor)
	}
	return min(max(in.MaxOutputTokens/2, in.ClampFloor), in.MaxOutputTokens)
}

func (in QuotaInput) change(prev, next breakwaterv1alpha1.QuotaState, plan QuotaPlan, used, projected int64, missing []string) QuotaPlan {
	plan.State, plan.Changed, plan.Since = next, true, in.Now
	plan.OutputTokenClamp = in.clamp(next)
	reason, why := in.explain(next, plan, used, projected)
	plan.Reason = reason
	plan.Message = fmt.Sprintf("Quota moved from %s to %s: %s", prev, next, why)
	if len(missing) > 0 {
		plan.Message += fmt.Sprintf(" Usage of %s could not be measured.", strings.Join(missing, ", "))
	}
	return plan
}

func (in QuotaInput) hold(prev breakwaterv1alpha1.QuotaState, plan QuotaPlan, reason, msg string) QuotaPlan {
	plan.State, plan.Since = prev, in.PreviousSince
	plan.OutputTokenClamp = in.clamp(prev)
	plan.Reason, plan.Message = reason, msg
	return plan
}

// explain gives the reason and a sentence for a state that usage calls for. The wording stays
// neutral ("warn threshold 80%") because a state reached by falling back through the hysteresis
// margin can sit a little below its own threshold.
func (in QuotaInput) explain(s breakwaterv1alpha1.QuotaState, plan QuotaPlan, used, projected int64) (string, string) {
	usage := fmt.Sprintf("usage is %s%% of %s", plan.UsedPercent, plan.LimitText)
	clamp := fmt.Sprintf("; output tokens are clamped to %d.", in.clamp(s))
	switch s {
	case breakwaterv1alpha1.QuotaExhausted:
		return breakwaterv1alpha1.ReasonHardLimitReached, fmt.Sprintf("%s (hard threshold %d%%); only critical workloads are served%s",
			usage, in.HardPercent, clamp)
	case breakwaterv1alpha1.QuotaShedding:
		return breakwaterv1alpha1.ReasonShedThresholdReached, fmt.Sprintf("%s (shed threshold %d%%); sheddable, then standard workloads are shed%s",
			usage, in.ShedPercent, clamp)
	case breakwaterv1alpha1.QuotaWarning:
		if used < int64(in.WarnPercent)*10 && projected >= 1000-in.margin(1000) {
			return breakwaterv1alpha1.ReasonProjectedOverBudget, fmt.Sprintf("at the current rate a daily budget would reach %s%% by 00:00 UTC (%s)%s",
				plan.ProjectedPercent, usage, clamp)
		}
		return breakwaterv1alpha1.ReasonWarnThresholdReached, fmt.Sprintf("%s (warn threshold %d%%)%s", usage, in.WarnPercent, clamp)
	default:
		return breakwaterv1alpha1.ReasonWithinLimits, fmt.Sprintf("%s (warn threshold %d%%).", usage, in.WarnPercent)
	}
}

// QuotaSeverity orders the quota states from Normal (0) to Exhausted (3), so that the strictest
// of several quotas wins; "" and unknown states count as Normal.
func QuotaSeverity(s breakwaterv1alpha1.QuotaState) int {
	switch s {
	case breakwaterv1alpha1.QuotaWarning:
		return 1
	case breakwaterv1alpha1.QuotaShedding:
		return 2
	case breakwaterv1alpha1.QuotaExhausted:
		return 3
	default:
		return 0
	}
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
