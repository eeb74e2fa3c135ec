package controllers_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	bw "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/controllers"
	"github.com/breakwater-dev/breakwater/internal/aws"
	"github.com/breakwater-dev/breakwater/internal/managermetrics"
	"github.com/breakwater-dev/breakwater/internal/promsource"
)

// flFigures are one target's metrics as the fake source reports them; absent targets have no data.
type flFigures struct {
	rps, throttleRatio, errorRatio, p99Seconds float64
}

// flMetrics is a promsource.Source whose answers the test sets step by step.
type flMetrics struct {
	mu      sync.Mutex
	targets map[promsource.Key]flFigures
	err     error
}

func (f *flMetrics) set(targets map[promsource.Key]flFigures, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.targets, f.err = targets, err
}

// per answers one query: per target, or summed per endpoint (rates weighted by requests).
func (f *flMetrics) per(s promsource.Scope, value func(flFigures) float64, ratio bool) (promsource.Result[promsource.Key], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return promsource.Result[promsource.Key]{}, f.err
	}
	r := promsource.Result[promsource.Key]{Values: map[promsource.Key]float64{}}
	sums, weights := map[promsource.Key]float64{}, map[promsource.Key]float64{}
	for k, fig := range f.targets {
		if !s.SumTargets {
			r.Values[k] = value(fig)
			continue
		}
		k.Target = ""
		if ratio {
			sums[k] += value(fig) * fig.rps
			weights[k] += fig.rps
		} else {
			sums[k] += value(fig)
			weights[k] = 1
		}
	}
	for k, v := range sums {
		if weights[k] > 0 {
			r.Values[k] = v / weights[k]
		}
	}
	return r, nil
}

// Query answers each figure from the targets' figures; attempts are requests (in these fakes every
// request is one attempt), and a figure the loops do not read has no data.
func (f *flMetrics) Query(_ context.Context, figure promsource.Figure, s promsource.Scope) (promsource.Result[promsource.Key], error) {
	switch figure {
	case promsource.QueryAttemptRate, promsource.QueryRequestRate:
		return f.per(s, func(x flFigures) float64 { return x.rps }, false)
	case promsource.QueryErrorRatio:
		return f.per(s, func(x flFigures) float64 { return x.errorRatio }, true)
	case promsource.QueryThrottleRatio:
		return f.per(s, func(x flFigures) float64 { return x.throttleRatio }, true)
	case promsource.QueryLatencyP99:
		return f.per(s, func(x flFigures) float64 { return x.p99Seconds }, true)
	case promsource.QueryTokensPerMinute:
		return f.per(s, func(x flFigures) float64 { return x.rps * 60 * 500 }, false)
	default:
		return promsource.Result[promsource.Key]{}, nil
	}
}

// flCatalog serves the model in the regions it lists.
type flCatalog map[string]bool

func (f flCatalog) Serves(_ context.Context, region, modelID string) (aws.Validation, error) {
	v := aws.Validation{Region: region, ModelID: modelID, Serves: f[region], Streaming: f[region]}
	if !v.Serves {
		v.Reason = "model " + modelID + " is not offered in " + region
	}
	return v, nil
}

// flFixture is an endpoint with three bedrock targets and a policy steering them, each
// reconciled by the suite's manager (without sources) and by the test's own reconcilers.
type flFixture struct {
	ns       string
	me       *bw.ModelEndpoint
	p        *bw.FailoverPolicy
	metrics  *flMetrics
	clock    *clocktesting.FakeClock
	recorder *events.FakeRecorder
	fp, mer  reconcile.Reconciler
	// stats are the loop's metrics, in a registry of the fixture's own.
	stats *managermetrics.Metrics
}

const flModel = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

func newFlFixture(t *testing.T, prefix string, mode bw.Mode) *flFixture {
	t.Helper()
	ctx := context.Background()
	f := &flFixture{ns: namespace(t, prefix), metrics: &flMetrics{}, clock: clocktesting.NewFakeClock(time.Time{}),
		recorder: events.NewFakeRecorder(1000)}
	target := func(name string, weight int32) bw.ModelTarget {
		return bw.ModelTarget{Name: name, Region: name, ModelID: flModel, Weight: ptr(weight)}
	}
	// eu-west-1 is the second preference but does not serve the model: traffic must skip it.
	f.me = &bw.ModelEndpoint{ObjectMeta: metav1.ObjectMeta{Name: "claude", Namespace: f.ns},
		Spec: bw.ModelEndpointSpec{Provider: bw.ProviderBedrock,
			Targets: []bw.ModelTarget{target("us-east-1", 100), target("eu-west-1", 0), target("us-west-2", 0)}}}
	if err := c.Create(ctx, f.me); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the endpoint to be Ready", func(ctx context.Context) (bool, error) {
		return conditionIs(ctx, f.me, func() []metav1.Condition { return f.me.Status.Conditions }, bw.ConditionReady, metav1.ConditionTrue, bw.ReasonReconciled)
	})
	f.p = &bw.FailoverPolicy{ObjectMeta: metav1.ObjectMeta{Name: "regions", Namespace: f.ns},
		Spec: bw.FailoverPolicySpec{
			EndpointRef: bw.LocalObjectReference{Name: "claude"},
			Targets:     []string{"us-east-1", "eu-west-1", "us-west-2"},
			Triggers:    bw.FailoverTriggers{ThrottleRatePercent: ptr[int32](5), Window: metav1.Duration{Duration: 2 * time.Minute}},
			Shift:       bw.ShiftPolicy{StepPercent: 50, Cooldown: metav1.Duration{Duration: time.Minute}},
			Failback:    bw.FailbackPolicy{StablePeriod: metav1.Duration{Duration: 5 * time.Minute}, StepPercent: 25},
			Mode:        mode,
		}}
	if err := c.Create(ctx, f.p); err != nil {
		t.Fatal(err)
	}
	// The manager, which has no metric source, must have reconciled the policy before the test's
	// loop starts, and must hold what it finds.
	eventually(t, "the manager to hold the policy for lack of metrics", func(ctx context.Context) (bool, error) {
		return conditionIs(ctx, f.p, func() []metav1.Condition { return f.p.Status.Conditions }, bw.ConditionMetricsAvailable, metav1.ConditionFalse, bw.ReasonMetricsUnavailable)
	})
	if got := flWeights(f.p); got != "us-east-1=100 eu-west-1=0 us-west-2=0" {
		t.Fatalf("first weights %s, want the endpoint's spec weights", got)
	}
	if tv := apimeta.FindStatusCondition(f.p.Status.Conditions, bw.ConditionTargetsValidated); tv == nil ||
		tv.Status != metav1.ConditionUnknown || tv.Reason != bw.ReasonValidationUnavailable ||
		!strings.Contains(tv.Message, "traffic is never moved onto them") {
		t.Fatalf("TargetsValidated without a catalogue: %+v", tv)
	}
	f.stats = managermetrics.New()
	if err := f.stats.Register(prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	src := controllers.Sources{Metrics: f.metrics, Catalog: flCatalog{"us-east-1": true, "us-west-2": true},
		Interval: 15 * time.Second, Now: f.clock.Now, ManagerMetrics: f.stats}
	f.fp = controllers.NewFailoverPolicyReconcilerForTest(c, f.recorder, src)
	f.mer = controllers.NewModelEndpointReconcilerForTest(c, f.recorder, src)
	return f
}

// reconcile runs r once on obj, again on a conflict with the manager's own writes, and reads
// obj back.
func flReconcile(t *testing.T, r reconcile.Reconciler, obj client.Object) {
	t.Helper()
	ctx := context.Background()
	key := client.ObjectKeyFromObject(obj)
	for attempt := 0; ; attempt++ {
		res, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key})
		if apierrors.IsConflict(err) && attempt < 20 {
			continue
		}
		if err != nil {
			t.Fatalf("reconciling %s: %v", key, err)
		}
		if res.RequeueAfter < 15*time.Second || res.RequeueAfter > 17*time.Second {
			t.Fatalf("RequeueAfter %s, want the 15s interval plus at most 10%% jitter", res.RequeueAfter)
		}
		break
	}
	if err := c.Get(ctx, key, obj); err != nil {
		t.Fatal(err)
	}
}

func flWeights(p *bw.FailoverPolicy) string {
	parts := make([]string, 0, len(p.Status.Weights))
	for _, w := range p.Status.Weights {
		parts = append(parts, fmt.Sprintf("%s=%d", w.Target, w.Weight))
	}
	return strings.Join(parts, " ")
}

func flWeight(p *bw.FailoverPolicy, target string) int32 {
	for _, w := range p.Status.Weights {
		if w.Target == target {
			return w.Weight
		}
	}
	return -1
}

// flEvents returns the Events recorded so far.
func flEvents(r *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-r.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// key is the metric key of one target of the fixture's endpoint.
func (f *flFixture) key(target string) promsource.Key {
	return promsource.Key{Namespace: f.ns, Endpoint: "claude", Target: target}
}

// checkInvariants holds at every step: weights name every target and sum to 100, the
// unvalidated target never gets traffic, and the endpoint mirrors the policy.
func (f *flFixture) checkInvariants(t *testing.T, step string) {
	t.Helper()
	var sum int32
	for _, w := range f.p.Status.Weights {
		if w.Weight < 0 || w.Weight > 100 {
			t.Fatalf("%s: weight out of range: %s", step, flWeights(f.p))
		}
		sum += w.Weight
	}
	if sum != 100 || len(f.p.Status.Weights) != 3 {
		t.Fatalf("%s: weights %s do not sum to 100 over the 3 targets", step, flWeights(f.p))
	}
	if w := flWeight(f.p, "eu-west-1"); w != 0 {
		t.Fatalf("%s: the unvalidated eu-west-1 got weight %d", step, w)
	}
	for _, ts := range f.me.Status.Targets {
		if ts.Weight != flWeight(f.p, ts.Name) {
			t.Fatalf("%s: endpoint target %s weight %d, policy says %s", step, ts.Name, ts.Weight, flWeights(f.p))
		}
		if ts.Available != (ts.Name != "eu-west-1") {
			t.Fatalf("%s: endpoint target %s available=%t (%s)", step, ts.Name, ts.Available, ts.Message)
		}
	}
	if f.me.Status.ActiveTarget != f.p.Status.ActiveTarget {
		t.Fatalf("%s: endpoint active target %q, policy %q", step, f.me.Status.ActiveTarget, f.p.Status.ActiveTarget)
	}
}

// TestFailoverLoopIncident replays a regional throttling incident step by step on a fake clock:
// us-east-1 throttles, traffic moves to us-west-2 in 50-point steps a cooldown apart (skipping the
// unvalidated eu-west-1), the metric source fails for a while (weights held), the region recovers
// and traffic returns in 25-point steps once it has been quiet for the stable period.
func TestFailoverLoopIncident(t *testing.T) {
	t.Parallel()
	f := newFlFixture(t, "failover-incident", bw.ModeEnforce)
	const (
		window   = 2 * time.Minute
		cooldown = time.Minute
		stable   = 5 * time.Minute
		step     = 30 * time.Second
	)
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	incident := [2]time.Duration{30 * time.Second, 6 * time.Minute}
	metricsDown := [2]time.Duration{45 * time.Second, 2 * time.Minute}
	var (
		drainedAt, lastFiring, lastChange time.Time
		history                           []int32
		failbackSteps                     int
	)
	history = append(history, 100)
	for i := 0; i <= 28; i++ {
		at := time.Duration(i) * step
		now := start.Add(at)
		f.clock.SetTime(now)
		east := flWeight(f.p, "us-east-1")
		west := flWeight(f.p, "us-west-2")
		inIncident := at >= incident[0] && at < incident[1]
		// What Prometheus shows: a target with traffic reports it; a drained target's old requests
		// stay in the window for one window, then its series has no data.
		data := map[promsource.Key]flFigures{}
		firing := false
		switch {
		case east > 0 && inIncident:
			data[f.key("us-east-1")] = flFigures{rps: float64(east) / 10, throttleRatio: 0.3, p99Seconds: 2}
			firing = true
		case east > 0:
			data[f.key("us-east-1")] = flFigures{rps: float64(east) / 10, p99Seconds: 1}
		case !drainedAt.IsZero() && now.Sub(drainedAt) < window:
			data[f.key("us-east-1")] = flFigures{rps: 1, throttleRatio: 0.3, p99Seconds: 2}
			firing = true
		}
		if west > 0 {
			data[f.key("us-west-2")] = flFigures{rps: float64(west) / 10, p99Seconds: 1.5}
		}
		if firing {
			lastFiring = now
		}
		var srcErr error
		down := at >= metricsDown[0] && at < metricsDown[1]
		if down {
			srcErr = errors.New("Prometheus answered 503")
		}
		f.metrics.set(data, srcErr)

		before := flWeights(f.p)
		flReconcile(t, f.fp, f.p)
		// The condition as this evaluation wrote it; the next one may say Cooldown instead.
		fo := apimeta.FindStatusCondition(f.p.Status.Conditions, bw.ConditionFailedOver).DeepCopy()
		// Level-triggered: a second evaluation at the same instant moves nothing.
		again := flWeights(f.p)
		flReconcile(t, f.fp, f.p)
		if flWeights(f.p) != again {
			t.Fatalf("t=%s: a second evaluation moved %s to %s", at, again, flWeights(f.p))
		}
		flReconcile(t, f.mer, f.me)
		f.checkInvariants(t, "t="+at.String())
		for _, tw := range f.p.Status.Weights {
			if got := testutil.ToFloat64(f.stats.TargetWeight.WithLabelValues(f.ns, "regions", tw.Target)); got != float64(tw.Weight) {
				t.Fatalf("t=%s: breakwater_manager_target_weight of %s is %v, status says %d", at, tw.Target, got, tw.Weight)
			}
		}

		metricsCond := apimeta.FindStatusCondition(f.p.Status.Conditions, bw.ConditionMetricsAvailable)
		if down {
			if metricsCond.Status != metav1.ConditionFalse || metricsCond.Reason != bw.ReasonMetricsUnavailable ||
				!strings.Contains(metricsCond.Message, "503") || flWeights(f.p) != before {
				t.Fatalf("t=%s: metrics down, got %+v and weights %s → %s", at, metricsCond, before, flWeights(f.p))
			}
		} else if metricsCond.Status != metav1.ConditionTrue {
			t.Fatalf("t=%s: MetricsAvailable %+v", at, metricsCond)
		}
		if f.me.Status.Observed == nil || f.me.Status.Observed.RequestsPerSecond == "" || f.me.Status.Observed.P99Latency == nil {
			t.Fatalf("t=%s: endpoint flFigures %+v", at, f.me.Status.Observed)
		}
		if at == incident[0] {
			// Only us-east-1 has traffic: 10 requests/s, 30% throttled, p99 2s, 500 tokens each.
			o := f.me.Status.Observed
			if o.RequestsPerSecond != "10" || o.ThrottlePercent != "30" || o.ErrorPercent != "0" || o.P99Latency.Duration != 2*time.Second ||
				o.TokensPerMinute == nil || *o.TokensPerMinute != 300000 || o.Window.Duration != window || !o.UpdatedAt.Time.Equal(now) {
				t.Fatalf("t=%s: endpoint figures %+v", at, o)
			}
		}
		if !down && inIncident && east > 0 && f.me.Status.Observed.ThrottlePercent == "0" {
			t.Fatalf("t=%s: endpoint flFigures show no throttling: %+v", at, f.me.Status.Observed)
		}

		if after := flWeight(f.p, "us-east-1"); after != history[len(history)-1] {
			if !lastChange.IsZero() && now.Sub(lastChange) < cooldown {
				t.Fatalf("t=%s: weights changed %s after the last change, inside the cooldown", at, now.Sub(lastChange))
			}
			ls := f.p.Status.LastShift
			if ls == nil || !ls.Time.Time.Equal(now) {
				t.Fatalf("t=%s: lastShift %+v, want one at %s", at, ls, now)
			}
			if fo.Reason != ls.Reason || fo.Message != ls.Message {
				t.Fatalf("t=%s: FailedOver %s %q is not the plan's %s %q", at, fo.Reason, fo.Message, ls.Reason, ls.Message)
			}
			if after > history[len(history)-1] {
				if ls.Reason != "Failback" || ls.To != "us-east-1" {
					t.Fatalf("t=%s: weight returned with lastShift %+v", at, ls)
				}
				if failbackSteps == 0 && now.Sub(lastFiring) < stable {
					t.Fatalf("t=%s: failback %s after us-east-1 last fired, before the %s stable period", at, now.Sub(lastFiring), stable)
				}
				failbackSteps++
			} else if ls.Reason != "ThrottleRateHigh" || ls.From != "us-east-1" || ls.To != "us-west-2" {
				t.Fatalf("t=%s: shift away with lastShift %+v", at, ls)
			}
			if after == 0 {
				drainedAt = now
			}
			history = append(history, after)
			lastChange = now
			if evs := flEvents(f.recorder); !flHasReason(evs, ls.Reason) {
				t.Fatalf("t=%s: no Event with reason %s among %q", at, ls.Reason, evs)
			}
		}
	}
	if got, want := fmt.Sprint(history), "[100 50 0 25 50 75 100]"; got != want {
		t.Errorf("us-east-1 weights went %s, want %s", got, want)
	}
	if n := f.p.Status.FailedFailbacks; n != 0 {
		t.Errorf("status.failedFailbacks = %d after a clean failback, want 0", n)
	}
	// Two shifts away and four failback steps, each counted once as applied; every evaluation
	// counted as a decision; the outage counted as Prometheus errors.
	for _, tc := range []struct {
		c    prometheus.Collector
		want float64
	}{
		{f.stats.Actions.WithLabelValues("shift_weights", "ThrottleRateHigh", "applied"), 2},
		{f.stats.Actions.WithLabelValues("shift_weights", "Failback", "applied"), 4},
		{f.stats.Decisions.WithLabelValues("failover", "shift", "ThrottleRateHigh"), 2},
		{f.stats.Decisions.WithLabelValues("failover", "failback", "Failback"), 4},
	} {
		if got := testutil.ToFloat64(tc.c); got != tc.want {
			t.Errorf("%s = %v, want %v", describe(tc.c), got, tc.want)
		}
	}
	if got := testutil.ToFloat64(f.stats.Decisions.WithLabelValues("failover", "hold", "MetricsUnavailable")); got < 1 {
		t.Errorf("no hold decision counted while the metrics were down")
	}
	if got := testutil.ToFloat64(f.stats.SourceErrors.WithLabelValues("prometheus")); got < 1 {
		t.Errorf("breakwater_manager_source_errors_total{source=prometheus} = %v while Prometheus failed", got)
	}
	if n := testutil.CollectAndCount(f.stats.EvaluationDuration); n != 1 {
		t.Errorf("%d evaluation duration series, want 1 (failover)", n)
	}
	// Deleting the policy deletes its weight series.
	if err := c.Delete(context.Background(), f.p); err != nil {
		t.Fatal(err)
	}
	if _, err := f.fp.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(f.p)}); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(f.stats.TargetWeight); n != 0 {
		t.Errorf("%d weight series left after the policy was deleted", n)
	}
	if fo := apimeta.FindStatusCondition(f.p.Status.Conditions, bw.ConditionFailedOver); fo.Status != metav1.ConditionFalse {
		t.Errorf("FailedOver at the end: %+v", fo)
	}
	if tv := apimeta.FindStatusCondition(f.p.Status.Conditions, bw.ConditionTargetsValidated); tv == nil ||
		tv.Reason != bw.ReasonTargetNotServed || !strings.Contains(tv.Message, "eu-west-1") {
		t.Errorf("TargetsValidated: %+v", tv)
	}
	if deg := apimeta.FindStatusCondition(f.me.Status.Conditions, bw.ConditionDegraded); deg.Status != metav1.ConditionTrue {
		t.Errorf("endpoint Degraded: %+v", deg)
	}
}

func flHasReason(lines []string, reason string) bool {
	for _, e := range lines {
		if strings.Contains(e, " "+reason+" ") {
			return true
		}
	}
	return false
}

// TestFailoverLoopShadow checks that shadow mode decides and records, paced by the cooldown, but
// never moves a weight.
func TestFailoverLoopShadow(t *testing.T) {
	t.Parallel()
	f := newFlFixture(t, "failover-shadow", bw.ModeShadow)
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.metrics.set(map[promsource.Key]flFigures{f.key("us-east-1"): {rps: 10, throttleRatio: 0.5, p99Seconds: 1}}, nil)
	shifts := map[time.Time]bool{}
	for i := 0; i < 20; i++ {
		f.clock.SetTime(start.Add(time.Duration(i) * 15 * time.Second))
		flReconcile(t, f.fp, f.p)
		flReconcile(t, f.mer, f.me)
		f.checkInvariants(t, fmt.Sprintf("step %d", i))
		if got := flWeights(f.p); got != "us-east-1=100 eu-west-1=0 us-west-2=0" {
			t.Fatalf("step %d: shadow mode moved the weights to %s", i, got)
		}
		fo := apimeta.FindStatusCondition(f.p.Status.Conditions, bw.ConditionFailedOver)
		if fo == nil || fo.Status != metav1.ConditionFalse {
			t.Fatalf("step %d: FailedOver %+v", i, fo)
		}
		if ls := f.p.Status.LastShift; ls != nil {
			if !strings.Contains(ls.Message, "Shadow mode: not applied.") {
				t.Fatalf("step %d: lastShift %+v does not say it was not applied", i, ls)
			}
			shifts[ls.Time.Time] = true
		}
	}
	// 20 steps of 15s are 4m45s: a shadow decision at 0s, 1m, 2m, 3m and 4m.
	if len(shifts) != 5 {
		t.Errorf("%d shadow decisions, want one per cooldown (5): %v", len(shifts), shifts)
	}
	if evs := flEvents(f.recorder); !flHasReason(evs, "ThrottleRateHigh") {
		t.Errorf("no ThrottleRateHigh Event in shadow mode: %q", evs)
	}
	if got := testutil.ToFloat64(f.stats.Actions.WithLabelValues("shift_weights", "ThrottleRateHigh", "shadow")); got != 5 {
		t.Errorf("%v shadow shifts counted, want 5", got)
	}
	if n := testutil.CollectAndCount(f.stats.Actions); n != 1 {
		t.Errorf("%d action series in shadow mode, want only the shadow shifts", n)
	}
}

// describe names a collector's metric for a failure message.
func describe(c prometheus.Collector) string {
	ch := make(chan *prometheus.Desc, 1)
	c.Describe(ch)
	return (<-ch).String()
}

// TestFailoverLoopEndpointFollows checks that the manager's ModelEndpoint controller, which
// watches FailoverPolicies, shows a shift on the endpoint without being called.
func TestFailoverLoopEndpointFollows(t *testing.T) {
	t.Parallel()
	f := newFlFixture(t, "failover-follows", bw.ModeEnforce)
	f.clock.SetTime(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	f.metrics.set(map[promsource.Key]flFigures{f.key("us-east-1"): {rps: 10, throttleRatio: 0.5, p99Seconds: 1}}, nil)
	flReconcile(t, f.fp, f.p)
	if got := flWeights(f.p); got != "us-east-1=50 eu-west-1=0 us-west-2=50" {
		t.Fatalf("weights after the first shift: %s", got)
	}
	eventually(t, "the endpoint to show the policy's weights", func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(f.me), f.me); err != nil {
			return false, err
		}
		got := map[string]int32{}
		for _, ts := range f.me.Status.Targets {
			got[ts.Name] = ts.Weight
		}
		return got["us-east-1"] == 50 && got["eu-west-1"] == 0 && got["us-west-2"] == 50, nil
	})
}

// TestFailoverLoopQuota: a target nearing its own tokens-per-minute quota (a TokenQuota reading
// Service Quotas in its region) fires quotaPercent, and the standby region takes only what its own
// quota leaves room for.
func TestFailoverLoopQuota(t *testing.T) {
	t.Parallel()
	f := newFlFixture(t, "failover-quota", bw.ModeEnforce)
	ctx := context.Background()
	regionQuota := func(name, region string, limit int64) {
		q := &bw.TokenQuota{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, Spec: bw.TokenQuotaSpec{
			Endpoints:    []bw.LocalObjectReference{{Name: "claude"}},
			ServiceQuota: &bw.ServiceQuotaSource{ServiceCode: "bedrock", QuotaCode: "L-FF1DB5E1", Region: region},
		}}
		if err := c.Create(ctx, q); err != nil {
			t.Fatal(err)
		}
		// What the TokenQuota loop writes once it has read Service Quotas (the suite's manager runs
		// without AWS access, and keeps what it finds).
		eventually(t, name+" to show its limit", func(ctx context.Context) (bool, error) {
			if err := c.Get(ctx, client.ObjectKeyFromObject(q), q); err != nil {
				return false, err
			}
			if q.Status.EffectiveTokensPerMinute != nil && *q.Status.EffectiveTokensPerMinute == limit {
				return true, nil
			}
			patch := client.MergeFrom(q.DeepCopy())
			q.Status.EffectiveTokensPerMinute = &limit
			return false, client.IgnoreNotFound(c.Status().Patch(ctx, q, patch))
		})
	}
	regionQuota("east-tpm", "us-east-1", 100000)
	regionQuota("west-tpm", "us-west-2", 40000)
	patch := client.MergeFrom(f.p.DeepCopy())
	f.p.Spec.Triggers.QuotaPercent = ptr[int32](90)
	if err := c.Patch(ctx, f.p, patch); err != nil {
		t.Fatal(err)
	}

	// us-east-1 serves 3.2 requests/s of 500 tokens: 96000 tokens/min, 96% of its quota. No throttle.
	f.clock.SetTime(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	f.metrics.set(map[promsource.Key]flFigures{f.key("us-east-1"): {rps: 3.2, p99Seconds: 1}}, nil)
	flReconcile(t, f.fp, f.p)
	// us-west-2 may take 85% (5 points under the trigger) of 40000, 34000 of the endpoint's 96000
	// tokens/min: 35 points, less than the 50-point step.
	if got := flWeights(f.p); got != "us-east-1=65 eu-west-1=0 us-west-2=35" {
		t.Fatalf("weights %s, want 35 points moved to us-west-2", got)
	}
	ls := f.p.Status.LastShift
	if ls == nil || ls.Reason != "QuotaHigh" || ls.To != "us-west-2" ||
		!strings.Contains(ls.Message, "us-east-1: tokens per minute at 96.0% of its 100000 quota (trigger 90%)") {
		t.Fatalf("lastShift %+v", ls)
	}
	if got := testutil.ToFloat64(f.stats.TargetWeight.WithLabelValues(f.ns, "regions", "us-west-2")); got != 35 {
		t.Errorf("target_weight of us-west-2 = %v, want 35", got)
	}

	// A cooldown later us-east-1 is at 62400 tokens/min, below its trigger: nothing fires, and
	// failback waits for the stable period.
	f.clock.Step(time.Minute)
	f.metrics.set(map[promsource.Key]flFigures{f.key("us-east-1"): {rps: 2.08, p99Seconds: 1}, f.key("us-west-2"): {rps: 1.12, p99Seconds: 1}}, nil)
	flReconcile(t, f.fp, f.p)
	if got := flWeights(f.p); got != "us-east-1=65 eu-west-1=0 us-west-2=35" {
		t.Errorf("weights moved to %s below the trigger", got)
	}
	if fo := apimeta.FindStatusCondition(f.p.Status.Conditions, bw.ConditionFailedOver); fo == nil || fo.Reason != "FailbackPending" {
		t.Errorf("FailedOver %+v, want FailbackPending", fo)
	}
}

// TestFailoverLoopFailedFailbacks: us-east-1 keeps failing whenever it gets traffic back. Each
// failback step that it undoes is counted in status.failedFailbacks, and the next step waits the
// stable period doubled per failure (5, then 10, then 20 min), through the real API server's status.
func TestFailoverLoopFailedFailbacks(t *testing.T) {
	t.Parallel()
	f := newFlFixture(t, "failover-failed-failbacks", bw.ModeEnforce)
	const (
		window = 2 * time.Minute
		step   = 30 * time.Second
	)
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var drainedAt time.Time
	var failbacks []time.Time
	var counts []int32
	for at := time.Duration(0); at <= 50*time.Minute; at += step {
		now := start.Add(at)
		f.clock.SetTime(now)
		east, west := flWeight(f.p, "us-east-1"), flWeight(f.p, "us-west-2")
		data := map[promsource.Key]flFigures{}
		switch {
		case east > 0:
			data[f.key("us-east-1")] = flFigures{rps: float64(east) / 10, throttleRatio: 0.3, p99Seconds: 1}
		case !drainedAt.IsZero() && now.Sub(drainedAt) < window:
			data[f.key("us-east-1")] = flFigures{rps: 1, throttleRatio: 0.3, p99Seconds: 1}
		}
		if west > 0 {
			data[f.key("us-west-2")] = flFigures{rps: float64(west) / 10, p99Seconds: 1}
		}
		f.metrics.set(data, nil)
		flReconcile(t, f.fp, f.p)
		after := flWeight(f.p, "us-east-1")
		switch {
		case after > east:
			failbacks = append(failbacks, now)
		case after < east && after == 0:
			drainedAt = now
		}
		if n := f.p.Status.FailedFailbacks; len(counts) == 0 || counts[len(counts)-1] != n {
			counts = append(counts, n)
		}
	}
	if got, want := fmt.Sprint(counts), "[0 1 2 3]"; got != want {
		t.Errorf("status.failedFailbacks went %s, want %s", got, want)
	}
	if len(failbacks) != 3 {
		t.Fatalf("failback steps at %v, want 3 in 50 minutes", failbacks)
	}
	// Each step waits for the region to look healthy (drained, and its old requests out of the
	// window) for the stable period, doubled per failed step before it.
	t.Logf("failback steps at %v", failbacks)
	for i, want := range []time.Duration{10 * time.Minute, 20 * time.Minute} {
		if gap := failbacks[i+1].Sub(failbacks[i]); gap < want {
			t.Errorf("failback step %d came %s after step %d, want at least the doubled stable period %s", i+2, gap, i+1, want)
		}
	}
}
