package policy

import (
	"fmt"
	"math"
	"strings"
	"time"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

// Failover defaults; they repeat the FailoverPolicy API defaults so that a zero input means the
// same as an absent field.
const (
	DefaultStepPercent         = 50
	DefaultCooldown            = time.Minute
	DefaultStablePeriod        = 5 * time.Minute
	DefaultFailbackStepPercent = 25
	DefaultMinRequests         = 20
	DefaultWindow              = 2 * time.Minute
)

// Triggers are spec.triggers; a zero threshold is a trigger that is not set.
type Triggers struct {
	ErrorRatePercent    int32
	ThrottleRatePercent int32
	P99Latency          time.Duration
	QuotaPercent        int32
	// MinRequests gates the rate and latency triggers: with fewer requests in the window they do
	// not fire (a handful of requests says nothing). The quota trigger is not gated: it measures
	// tokens against a quota, not a sample of requests.
	MinRequests int64
	// Window is what the metrics were measured over; it is only quoted in messages.
	Window time.Duration
}

// TargetMetrics are one target's measurements over the trigger window.
type TargetMetrics struct {
	Requests  int64
	Errors    int64
	Throttles int64
	P99       time.Duration
	// QuotaTokensPerMinute is the target's tokens-per-minute usage (account-wide where CloudWatch
	// knows it) and QuotaLimit its tokens-per-minute quota; QuotaLimit 0 means unknown, and the
	// quota trigger does not fire.
	QuotaTokensPerMinute int64
	QuotaLimit           int64
}

// TargetInput is one target, in spec.targets order (most preferred first).
type TargetInput struct {
	Name string
	// Weight is the current weight (status.weights); HomeWeight the endpoint's spec weight, which
	// failback returns to. Both are normalised to 100 by largest remainder.
	Weight     int32
	HomeWeight int32
	// Validated says the target's region serves the model (and its streaming mode).
	Validated bool
	// Metrics are nil when the metric source failed for this target.
	Metrics *TargetMetrics
	// HeadroomPercent is the largest share of the endpoint's traffic (0–100) the target can take
	// without passing its own quota; nil means no known limit.
	HeadroomPercent *int32
	// HealthySince is when the target last became healthy, as returned by the previous plan; zero
	// when it was not healthy (or is not known).
	HealthySince time.Time
}

// FailoverInput is everything Failover needs. Zero values take the defaults.
type FailoverInput struct {
	Now      time.Time
	Targets  []TargetInput
	Triggers Triggers

	// StepPercent and Cooldown are spec.shift.
	StepPercent int32
	Cooldown    time.Duration
	// FailbackDisabled is spec.failback.enabled == false; StablePeriod and FailbackStepPercent the
	// rest of spec.failback.
	FailbackDisabled    bool
	StablePeriod        time.Duration
	FailbackStepPercent int32
	// AllowUnvalidated is spec.requireValidatedTargets == false.
	AllowUnvalidated bool
	// LastShift is status.lastShift.time (zero: never).
	LastShift time.Time
	// LastFailbackTo is status.lastShift.to when that shift was a failback step, else "".
	LastFailbackTo string
	// FailedFailbacks is status.failedFailbacks: failback steps in a row that a trigger on the
	// target failed back to undid. Each doubles the stable period (FailbackStablePeriod).
	FailedFailbacks int32
	// Shadow is spec.mode == shadow.
	Shadow bool
}

// TargetHealth is one target's evaluation.
type TargetHealth struct {
	Target string
	// Healthy is true when metrics are known and no trigger fired.
	Healthy bool
	// HealthySince is to be kept (in status) and handed back as TargetInput.HealthySince.
	HealthySince time.Time
	// Reason is the trigger that fired ("" when none) and Message what was measured.
	Reason  string
	Message string
}

// Move is weight moved from one target to another.
type Move struct {
	From, To string
	Points   int32
}

// FailoverPlan is the decided weights.
type FailoverPlan struct {
	// Weights sum to exactly 100, in target order.
	Weights []breakwaterv1alpha1.TargetWeight
	Targets []TargetHealth
	Moves   []Move
	// Changed is true when Weights differ from the current weights; Apply is Changed outside
	// shadow mode. In shadow mode the reconciler records the plan (and LastShift, so the cooldown
	// also paces shadow Events) but keeps the weights.
	Changed bool
	Apply   bool
	// LastShift is Now when Changed, else the input's LastShift.
	LastShift time.Time
	// ActiveTarget has the largest weight (the most preferred on a tie); FailedOver is true when
	// the weights differ from the home weights.
	ActiveTarget string
	FailedOver   bool
	// FailedFailbacks is the new status.failedFailbacks.
	FailedFailbacks int32

	Reason  string
	Message string
}

type failover struct {
	in      FailoverInput
	home    []int32
	cur     []int32
	health  []TargetHealth
	stable  []bool // healthy for at least the stable period
	allowed []bool // may receive traffic: healthy and validated (unless allowed)
}

// MaxFailbackBackoff caps the stable period after failed failback steps at this multiple of the
// configured one (5 min: 2 h 40 min), so a region that fails for hours gets a failback step about
// log2(outage / stable period) times instead of once per stable period.
const MaxFailbackBackoff = 32

// Failover decides the endpoint's weights: away from a target that fired a trigger, or one
// failback step toward the home weights.
func Failover(in FailoverInput) FailoverPlan {
	in = in.withDefaults()
	configured := in.StablePeriod
	in.StablePeriod = FailbackStablePeriod(configured, int(in.FailedFailbacks), configured*MaxFailbackBackoff)
	plan := decideFailover(in)
	plan.FailedFailbacks = in.FailedFailbacks
	switch {
	case plan.Changed && plan.Reason != breakwaterv1alpha1.ReasonFailback && movesFrom(plan.Moves, in.LastFailbackTo):
		// The last failback step went to a target that failed again: wait longer before the next.
		plan.FailedFailbacks++
	case !plan.FailedOver:
		plan.FailedFailbacks = 0
	}
	return plan
}

func movesFrom(moves []Move, target string) bool {
	for _, m := range moves {
		if target != "" && m.From == target {
			return true
		}
	}
	return false
}

func decideFailover(in FailoverInput) FailoverPlan {
	f := newFailover(in)
	if missing := f.missing(); len(missing) > 0 {
		return f.hold(breakwaterv1alpha1.ReasonMetricsUnavailable, fmt.Sprintf(
			"Metrics of %s could not be read; weights are held until they can.", strings.Join(missing, ", ")))
	}
	f.evaluate()
	inCooldown := !f.in.LastShift.IsZero() && f.in.Now.Sub(f.in.LastShift) < f.in.Cooldown
	next := f.in.LastShift.Add(f.in.Cooldown).UTC().Format(time.RFC3339)

	if src := f.source(); src >= 0 {
		h := f.health[src]
		if inCooldown {
			return f.hold(breakwaterv1alpha1.ReasonCooldown, fmt.Sprintf("%s: %s; next shift possible at %s.", h.Target, h.Message, next))
		}
		moves := f.shift(src)
		if len(moves) == 0 {
			return f.hold(breakwaterv1alpha1.ReasonNoHealthyTarget, fmt.Sprintf(
				"%s: %s; no healthy, validated target has room for its traffic, weights are held.", h.Target, h.Message))
		}
		return f.change(h.Reason, moves, fmt.Sprintf("%s: %s.", h.Target, h.Message))
	}

	switch {
	case equal(f.cur, f.home):
		return f.hold(breakwaterv1alpha1.ReasonSteady, "No trigger fired; weights are unchanged.")
	case f.in.FailbackDisabled:
		return f.hold(breakwaterv1alpha1.ReasonSteady, "No trigger fired; failback is disabled, so weights stay where the last shift left them.")
	}
	before := append([]int32(nil), f.cur...)
	moves, waiting := f.failback()
	switch {
	case len(moves) == 0:
		return f.hold(breakwaterv1alpha1.ReasonFailbackPending, waiting)
	case inCooldown:
		f.cur = before // the step is only announced
		return f.hold(breakwaterv1alpha1.ReasonCooldown, fmt.Sprintf("Failback to %s is due; next step possible at %s.", moves[0].To, next))
	default:
		return f.change(breakwaterv1alpha1.ReasonFailback, moves, fmt.Sprintf("no trigger has fired on %s for at least %s.", moves[0].To, f.in.StablePeriod))
	}
}

func (in FailoverInput) withDefaults() FailoverInput {
	if in.StepPercent <= 0 {
		in.StepPercent = DefaultStepPercent
	}
	if in.Cooldown <= 0 {
		in.Cooldown = DefaultCooldown
	}
	if in.StablePeriod <= 0 {
		in.StablePeriod = DefaultStablePeriod
	}
	if in.FailbackStepPercent <= 0 {
		in.FailbackStepPercent = DefaultFailbackStepPercent
	}
	if in.Triggers.MinRequests <= 0 {
		in.Triggers.MinRequests = DefaultMinRequests
	}
	if in.Triggers.Window <= 0 {
		in.Triggers.Window = DefaultWindow
	}
	return in
}

func newFailover(in FailoverInput) *failover {
	n := len(in.Targets)
	f := &failover{in: in, health: make([]TargetHealth, n), stable: make([]bool, n), allowed: make([]bool, n)}
	homes, curs := make([]int64, n), make([]int64, n)
	for i, t := range in.Targets {
		homes[i], curs[i] = int64(t.HomeWeight), int64(t.Weight)
		f.health[i] = TargetHealth{Target: t.Name, HealthySince: t.HealthySince, Healthy: !t.HealthySince.IsZero()}
	}
	f.home = LargestRemainder(homes, 100)
	if f.home == nil && n > 0 {
		// No home weights at all: everything on the most preferred target.
		homes[0] = 1
		f.home = LargestRemainder(homes, 100)
	}
	// Current weights that sum to zero (never decided yet) start from home.
	f.cur = LargestRemainder(curs, 100)
	if f.cur == nil {
		f.cur = append([]int32(nil), f.home...)
	}
	return f
}

func (f *failover) missing() []string {
	var names []string
	for _, t := range f.in.Targets {
		if t.Metrics == nil {
			names = append(names, t.Name)
		}
	}
	return names
}

// evaluate fires the triggers of every target and keeps HealthySince.
func (f *failover) evaluate() {
	for i, t := range f.in.Targets {
		reason, msg := f.in.Triggers.fire(*t.Metrics)
		h := TargetHealth{Target: t.Name, Healthy: reason == "", Reason: reason, Message: msg}
		if h.Healthy {
			h.HealthySince = t.HealthySince
			if h.HealthySince.IsZero() || h.HealthySince.After(f.in.Now) {
				h.HealthySince = f.in.Now
			}
			h.Message = "no trigger fired"
		}
		f.health[i] = h
		f.stable[i] = h.Healthy && f.in.Now.Sub(h.HealthySince) >= f.in.StablePeriod
		f.allowed[i] = h.Healthy && (t.Validated || f.in.AllowUnvalidated)
	}
}

// fire returns the first trigger that fires, in the order quota, throttle rate, error rate,
// latency (most specific cause first), with what was measured.
func (tr Triggers) fire(m TargetMetrics) (string, string) {
	if tr.QuotaPercent > 0 && m.QuotaLimit > 0 {
		if p := permille(m.QuotaTokensPerMinute, m.QuotaLimit); p >= int64(tr.QuotaPercent)*10 {
			return breakwaterv1alpha1.ReasonQuotaHigh, fmt.Sprintf("tokens per minute at %s%% of its %d quota (trigger %d%%)",
				formatPermille(p), m.QuotaLimit, tr.QuotaPercent)
		}
	}
	if m.Requests < tr.MinRequests {
		return "", ""
	}
	if tr.ThrottleRatePercent > 0 {
		if p := ratePermille(m.Throttles, m.Requests); p >= int64(tr.ThrottleRatePercent)*10 {
			return breakwaterv1alpha1.ReasonThrottleRateHigh, fmt.Sprintf("throttle rate %s%% of %d upstream calls over %s (trigger %d%%)",
				formatPermille(p), m.Requests, tr.Window, tr.ThrottleRatePercent)
		}
	}
	if tr.ErrorRatePercent > 0 {
		if p := ratePermille(m.Errors, m.Requests); p >= int64(tr.ErrorRatePercent)*10 {
			return breakwaterv1alpha1.ReasonErrorRateHigh, fmt.Sprintf("error rate %s%% of %d upstream calls over %s (trigger %d%%)",
				formatPermille(p), m.Requests, tr.Window, tr.ErrorRatePercent)
		}
	}
	if tr.P99Latency > 0 && m.P99 > tr.P99Latency {
		return breakwaterv1alpha1.ReasonLatencyHigh, fmt.Sprintf("p99 latency %s over %s (trigger %s)",
			m.P99.Round(time.Millisecond), tr.Window, tr.P99Latency)
	}
	return "", ""
}

// source is the most preferred target that fired a trigger and still has weight; -1 if none.
// One source per evaluation keeps every shift small and explainable.
func (f *failover) source() int {
	for i, h := range f.health {
		if !h.Healthy && f.cur[i] > 0 {
			return i
		}
	}
	return -1
}

// room is how much more weight target i may take under its own quota headroom.
func (f *failover) room(i int) int32 {
	limit := int32(100)
	if h := f.in.Targets[i].HeadroomPercent; h != nil {
		limit = min(max(*h, 0), 100)
	}
	return max(limit-f.cur[i], 0)
}

// shift moves up to StepPercent points from src to the allowed targets, filling the most
// preferred first, each up to its headroom.
func (f *failover) shift(src int) []Move {
	left := min(f.in.StepPercent, f.cur[src])
	var moves []Move
	for i := range f.cur {
		if left == 0 {
			break
		}
		if i == src || !f.allowed[i] {
			continue
		}
		if p := min(left, f.room(i)); p > 0 {
			moves = append(moves, f.move(src, i, p))
			left -= p
		}
	}
	return moves
}

// failback moves up to FailbackStepPercent points back to the most preferred target below its
// home weight that has been healthy for the stable period, taking from the targets above their
// home weight, least preferred first. Without a move it says what failback waits for.
func (f *failover) failback() ([]Move, string) {
	waiting := ""
	wait := func(format string, args ...any) {
		if waiting == "" {
			waiting = fmt.Sprintf(format, args...)
		}
	}
	for d := range f.cur {
		deficit := f.home[d] - f.cur[d]
		if deficit <= 0 {
			continue
		}
		name := f.health[d].Target
		left := min(f.in.FailbackStepPercent, deficit, f.room(d))
		switch {
		case !f.allowed[d]:
			wait("Traffic is away from %s, which is not healthy or not validated; failback waits.", name)
			continue
		case !f.stable[d]:
			wait("%s is healthy since %s; failback starts once it has been healthy for %s.",
				name, f.health[d].HealthySince.UTC().Format(time.RFC3339), f.in.StablePeriod)
			continue
		case left == 0:
			wait("%s has no quota headroom for more traffic; failback waits.", name)
			continue
		}
		var moves []Move
		for s := len(f.cur) - 1; s >= 0 && left > 0; s-- {
			if surplus := f.cur[s] - f.home[s]; surplus > 0 {
				p := min(left, surplus)
				moves = append(moves, f.move(s, d, p))
				left -= p
			}
		}
		return moves, ""
	}
	if waiting == "" {
		waiting = "Weights differ from the home weights but no target is below its home weight."
	}
	return nil, waiting
}

func (f *failover) move(from, to int, p int32) Move {
	f.cur[from] -= p
	f.cur[to] += p
	return Move{From: f.health[from].Target, To: f.health[to].Target, Points: p}
}

func (f *failover) plan(reason, msg string) FailoverPlan {
	p := FailoverPlan{Targets: f.health, LastShift: f.in.LastShift, Reason: reason, Message: msg}
	best := -1
	for i, t := range f.in.Targets {
		p.Weights = append(p.Weights, breakwaterv1alpha1.TargetWeight{Target: t.Name, Weight: f.cur[i]})
		if best < 0 || f.cur[i] > f.cur[best] {
			best = i
		}
	}
	if best >= 0 {
		p.ActiveTarget = f.health[best].Target
	}
	p.FailedOver = !equal(f.cur, f.home)
	return p
}

func (f *failover) hold(reason, msg string) FailoverPlan {
	return f.plan(reason, msg)
}

func (f *failover) change(reason string, moves []Move, why string) FailoverPlan {
	var to []string
	for _, m := range moves {
		to = append(to, fmt.Sprintf("%d points from %s to %s", m.Points, m.From, m.To))
	}
	msg := fmt.Sprintf("Moved %s: %s Weights now %s.", strings.Join(to, ", "), why, f.weightsText())
	if f.in.Shadow {
		msg += " Shadow mode: not applied."
	}
	p := f.plan(reason, msg)
	p.Moves, p.Changed, p.Apply, p.LastShift = moves, true, !f.in.Shadow, f.in.Now
	return p
}

func (f *failover) weightsText() string {
	parts := make([]string, len(f.cur))
	for i, w := range f.cur {
		parts[i] = fmt.Sprintf("%s %d", f.health[i].Target, w)
	}
	return strings.Join(parts, ", ")
}

func equal(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// QuotaHeadroom is a target's HeadroomPercent: the largest whole share (0–100) of the endpoint's
// traffic the target can take while its own tokens-per-minute usage stays DefaultHysteresisPoints
// below quotaPercent of its quota (below the quota itself when the policy has no quota trigger).
// The margin keeps a target that traffic was moved onto from firing the trigger on the next small
// rise of demand and sending the traffic back. limit is the target's tokens-per-minute quota; other
// is the target's usage that does not come from this endpoint (e.g. other applications of the
// account, as CloudWatch reports); endpointTPM is the endpoint's tokens per minute over all its
// targets, which the weights divide. nil when the limit or the endpoint's usage is unknown or zero:
// nothing to divide, no bound.
func QuotaHeadroom(limit, other, endpointTPM int64, quotaPercent int32) *int32 {
	if limit <= 0 || endpointTPM <= 0 {
		return nil
	}
	pct := int64(quotaPercent)
	if pct <= 0 || pct > 100 {
		pct = 100
	}
	pct -= min(DefaultHysteresisPoints, pct/2)
	allowed := mulDiv(limit, pct, 100) - max(other, 0)
	var share int64
	if allowed > 0 {
		share = mulDiv(allowed, 100, endpointTPM)
		if share > 0 && share <= 100 && allowed < math.MaxInt64/100 && share*endpointTPM == allowed*100 {
			// Exactly at the threshold: the trigger fires at ">=", so one point less.
			share--
		}
	}
	h := int32(min(share, 100))
	return &h
}
