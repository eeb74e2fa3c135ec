package controllers_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	bw "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/controllers"
	"github.com/breakwater-dev/breakwater/internal/managermetrics"
	"github.com/breakwater-dev/breakwater/internal/promsource"
	"github.com/breakwater-dev/breakwater/internal/scaler"
	"github.com/breakwater-dev/breakwater/test/testenv"
)

// The TokenQuota loop is tested against its own control plane, with its own manager fed a fake
// metric source and a fake clock. The suite's manager runs with no metric source; sharing its API
// server, it would reconcile the same TokenQuotas and hold them MetricsUnavailable while this
// manager acts on them, and the two would take turns rewriting their conditions. A second
// control plane costs a few seconds and makes the loop the only writer, so the test can also stop
// and restart the manager mid-incident, which is the point of keeping state in the cluster.

// fakeUsage is a promsource.Source whose tokens per minute (and, for daily budgets, tokens and
// cost today and cost per minute) the test sets per namespace and endpoint; an endpoint with no
// value has no data, and failing makes every query fail.
type fakeUsage struct {
	mu      sync.Mutex
	figures map[string]map[promsource.Key]float64 // by promsource query name
	failing bool
	calls   map[string]int // TokensPerMinute queries per namespace
}

func newFakeUsage() *fakeUsage {
	return &fakeUsage{figures: map[string]map[promsource.Key]float64{}, calls: map[string]int{}}
}

func (f *fakeUsage) setFigure(query, ns, endpoint string, v float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.figures[query] == nil {
		f.figures[query] = map[promsource.Key]float64{}
	}
	f.figures[query][promsource.Key{Namespace: ns, Endpoint: endpoint}] = v
}

// set sets the tokens per minute of the one endpoint the loop tests use.
func (f *fakeUsage) set(ns string, tpm float64) {
	f.setFigure(promsource.QueryTokensPerMinute, ns, "claude-haiku", tpm)
}

// setToday sets the usage since 00:00 UTC and the cost rate.
func (f *fakeUsage) setToday(ns, endpoint string, tokens, cost, costPerMinute float64) {
	f.setFigure(promsource.QueryTokensToday, ns, endpoint, tokens)
	f.setFigure(promsource.QueryCostToday, ns, endpoint, cost)
	f.setFigure(promsource.QueryCostPerMinute, ns, endpoint, costPerMinute)
}

func (f *fakeUsage) fail(failing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = failing
}

func (f *fakeUsage) callCount(ns string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[ns]
}

// Query answers the figures the test set.
func (f *fakeUsage) Query(_ context.Context, query promsource.Figure, s promsource.Scope) (promsource.Result[promsource.Key], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if query == promsource.QueryTokensPerMinute {
		f.calls[s.Namespace]++
	}
	if f.failing {
		return promsource.Result[promsource.Key]{}, errors.New("prometheus: 503 Service Unavailable")
	}
	out := promsource.Result[promsource.Key]{Values: map[promsource.Key]float64{}}
	for _, ep := range s.Endpoints {
		k := promsource.Key{Namespace: s.Namespace, Endpoint: ep}
		if v, ok := f.figures[query][k]; ok {
			out.Values[k] = v
		}
	}
	return out, nil
}

// loopEnv is a control plane with a manager running the loops on the fake source and clock.
type loopEnv struct {
	t     *testing.T
	env   *testenv.Env
	c     client.Client
	usage *fakeUsage
	clock *clocktesting.FakeClock
	stop  func()
	// stats are the loops' metrics, in a registry of the test's own; they outlive manager restarts
	// as the process's registry would not, so counts add up over the whole test.
	stats *managermetrics.Metrics
	// admission is the admission store the manager is given (none by default).
	admission controllers.AdmissionStoreOptions
}

func startLoopEnv(t *testing.T) *loopEnv {
	t.Helper()
	return startLoopEnvWith(t, nil)
}

// startLoopEnvWith lets a test set up the control plane (objects the manager needs at start) and
// the manager's options before the manager starts.
func startLoopEnvWith(t *testing.T, before func(l *loopEnv)) *loopEnv {
	t.Helper()
	e, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	l := &loopEnv{t: t, env: e, c: e.Client, usage: newFakeUsage(),
		clock: clocktesting.NewFakeClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)), stats: managermetrics.New()}
	if err := l.stats.Register(prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(l)
	}
	l.startManager()
	t.Cleanup(func() { l.stop() })
	return l
}

// startManager starts a manager with every reconciler, as cmd/manager does, on the fake source
// and clock. Each start is a new process as far as the loops know: nothing carries over but the
// cluster.
func (l *loopEnv) startManager() {
	l.t.Helper()
	mgr, err := ctrl.NewManager(l.env.Config, ctrl.Options{
		Scheme:                 l.env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// The suite's manager registered the same controller names in this process.
		Controller: config.Controller{SkipNameValidation: ptr(true)},
	})
	if err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	src := controllers.Sources{Metrics: l.usage, Interval: 100 * time.Millisecond, Now: l.clock.Now, ManagerMetrics: l.stats,
		Admission: l.admission}
	if err := controllers.Setup(ctx, mgr, src); err != nil {
		cancel()
		l.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	l.stop = func() {
		cancel()
		if err := <-done; err != nil {
			l.t.Errorf("the manager stopped with an error: %v", err)
		}
		l.stop = func() {}
	}
}

func (l *loopEnv) create(objs ...client.Object) {
	l.t.Helper()
	for _, o := range objs {
		if err := l.c.Create(context.Background(), o); err != nil {
			l.t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// workload creates a Deployment with replicas and the GenAIWorkload protecting it.
func (l *loopEnv) workload(ns, name string, crit bw.Criticality, replicas, floor int32) {
	l.t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
			},
		},
	}
	w := &bw.GenAIWorkload{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: bw.GenAIWorkloadSpec{
		WorkloadRef:    &bw.WorkloadReference{Kind: "Deployment", Name: name},
		Criticality:    crit,
		ModelEndpoints: []bw.LocalObjectReference{{Name: "claude-haiku"}},
		Shedding:       bw.SheddingPolicy{MinReplicas: &floor},
	}}
	l.create(d, w)
}

// quotaNamespace creates a namespace with the sample ModelEndpoint and a TokenQuota of 1000
// tokens per minute over it (warn 80%, shed 90%, hard 100%).
func (l *loopEnv) quotaNamespace(name string, mode bw.Mode) {
	l.t.Helper()
	l.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	me := &bw.ModelEndpoint{}
	sample(l.t, "breakwater_v1alpha1_modelendpoint.yaml", name, me)
	q := &bw.TokenQuota{ObjectMeta: metav1.ObjectMeta{Name: "budget", Namespace: name}, Spec: bw.TokenQuotaSpec{
		Endpoints: []bw.LocalObjectReference{{Name: "claude-haiku"}},
		Limits:    bw.QuotaLimits{TokensPerMinute: ptr[int64](1000)},
		Mode:      mode,
	}}
	l.create(me, q)
}

func (l *loopEnv) quota(ctx context.Context, ns string) (*bw.TokenQuota, error) {
	q := &bw.TokenQuota{}
	return q, l.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "budget"}, q)
}

// waitQuota waits until the quota has measured tpm tokens per minute, and returns it; its state
// was decided in the same status write.
func (l *loopEnv) waitQuota(ns string, tpm int64, state bw.QuotaState) *bw.TokenQuota {
	l.t.Helper()
	var q *bw.TokenQuota
	eventually(l.t, fmt.Sprintf("quota %s at %d tokens/min in %s", ns, tpm, state), func(ctx context.Context) (bool, error) {
		var err error
		if q, err = l.quota(ctx, ns); err != nil {
			return false, err
		}
		return q.Status.Usage != nil && q.Status.Usage.TokensPerMinute != nil && *q.Status.Usage.TokensPerMinute == tpm &&
			q.Status.State == state, nil
	})
	return q
}

// evaluated waits until the loop has evaluated the namespace's quota twice more: the second of
// those evaluations started after the first ended (a controller never works on one object twice
// at once), so it saw every change made before this call, including the clock.
func (l *loopEnv) evaluated(ns string) {
	l.t.Helper()
	from := l.usage.callCount(ns)
	eventually(l.t, "two more evaluations of "+ns, func(context.Context) (bool, error) {
		return l.usage.callCount(ns) >= from+2, nil
	})
}

func (l *loopEnv) get(ns, name string) (*appsv1.Deployment, *bw.GenAIWorkload) {
	l.t.Helper()
	ctx := context.Background()
	d, w := &appsv1.Deployment{}, &bw.GenAIWorkload{}
	if err := l.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		l.t.Fatal(err)
	}
	if err := l.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, w); err != nil {
		l.t.Fatal(err)
	}
	return d, w
}

// replicas asserts a Deployment's replicas now.
func (l *loopEnv) replicas(ns, name string, want int32) {
	l.t.Helper()
	if d, _ := l.get(ns, name); *d.Spec.Replicas != want {
		l.t.Errorf("Deployment %s has %d replicas, want %d", name, *d.Spec.Replicas, want)
	}
}

// waitShed waits until the workload is scaled to its floor and recorded shed with remembered
// replicas, in its status and its Deployment's annotation.
func (l *loopEnv) waitShed(ns, name string, floor, remembered int32, reason string) {
	l.t.Helper()
	eventually(l.t, name+" shed", func(ctx context.Context) (bool, error) {
		d, w := l.get(ns, name)
		c := apimeta.FindStatusCondition(w.Status.Conditions, bw.ConditionShed)
		return *d.Spec.Replicas == floor && w.Status.State == bw.WorkloadShed && c != nil && c.Status == metav1.ConditionTrue &&
			c.Reason == reason && w.Status.RememberedReplicas != nil && *w.Status.RememberedReplicas == remembered, nil
	})
	d, _ := l.get(ns, name)
	if got := d.Annotations[scaler.AnnotationRemembered]; got != fmt.Sprint(remembered) {
		l.t.Errorf("%s annotation %s = %q, want %d", name, scaler.AnnotationRemembered, got, remembered)
	}
}

// waitRestored waits until the workload runs its remembered replicas again, active, with the
// scaler's annotations gone.
func (l *loopEnv) waitRestored(ns, name string, replicas int32) {
	l.t.Helper()
	eventually(l.t, name+" restored", func(ctx context.Context) (bool, error) {
		d, w := l.get(ns, name)
		return *d.Spec.Replicas == replicas && w.Status.State == bw.WorkloadActive && w.Status.RememberedReplicas == nil &&
			apimeta.IsStatusConditionFalse(w.Status.Conditions, bw.ConditionShed), nil
	})
	d, w := l.get(ns, name)
	if _, ok := d.Annotations[scaler.AnnotationState]; ok {
		l.t.Errorf("%s still has the annotation %s after its restore", name, scaler.AnnotationState)
	}
	if c := apimeta.FindStatusCondition(w.Status.Conditions, bw.ConditionShed); c.Reason != "QuotaRecovered" {
		l.t.Errorf("%s Shed condition reason %q, want QuotaRecovered", name, c.Reason)
	}
}

// waitMetric waits until a series of the loops' metrics has the value want.
func (l *loopEnv) waitMetric(what string, c prometheus.Collector, want float64) {
	l.t.Helper()
	eventually(l.t, fmt.Sprintf("%s = %v", what, want), func(context.Context) (bool, error) {
		return testutil.ToFloat64(c) == want, nil
	})
}

// countEvents counts the recordings of Events about the named object with reason and action: the
// recorder merges repeats of one Event into its series.
func (l *loopEnv) countEvents(ns, name, reason, action string) int {
	l.t.Helper()
	var list eventsv1.EventList
	if err := l.c.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		l.t.Fatal(err)
	}
	n := 0
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Reason == reason && e.Action == action {
			n++
			if e.Series != nil {
				n += int(e.Series.Count) - 1
			}
		}
	}
	return n
}

// waitEvent waits for an Event about the named object with reason and a note containing text.
func (l *loopEnv) waitEvent(ns, kind, name, eventType, reason, text string) {
	l.t.Helper()
	eventually(l.t, fmt.Sprintf("a %s Event %s about %s %s", eventType, reason, kind, name), func(ctx context.Context) (bool, error) {
		var list eventsv1.EventList
		if err := l.c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for _, e := range list.Items {
			if e.Regarding.Kind == kind && e.Regarding.Name == name && e.Type == eventType && e.Reason == reason &&
				strings.Contains(e.Note, text) {
				return true, nil
			}
		}
		return false, nil
	})
}

// TestTokenQuotaDailyBudget: a quota with only a cost budget per UTC day warns when the cost is
// projected over it by 00:00 UTC, and sheds once the cost spent passes the shed threshold.
func TestTokenQuotaDailyBudget(t *testing.T) {
	l := startLoopEnv(t)
	const ns = "daily"
	l.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	me := &bw.ModelEndpoint{}
	sample(t, "breakwater_v1alpha1_modelendpoint.yaml", ns, me)
	budget := bw.Money("10")
	l.create(me, &bw.TokenQuota{ObjectMeta: metav1.ObjectMeta{Name: "budget", Namespace: ns}, Spec: bw.TokenQuotaSpec{
		Endpoints: []bw.LocalObjectReference{{Name: "claude-haiku"}},
		Limits:    bw.QuotaLimits{CostPerDay: &budget},
	}})
	l.workload(ns, "batch", bw.CriticalitySheddable, 3, 0)

	// 10:00 UTC: 5 USD spent, 0.01 USD a minute for the 840 minutes left is 13.4 USD, 134%.
	l.usage.set(ns, 100)
	l.usage.setToday(ns, "claude-haiku", 20000, 5, 0.01)
	q := l.waitQuota(ns, 100, bw.QuotaWarning)
	if q.Status.UsedPercent != "50.0" || q.Status.Limit != "10 USD/day" || q.Status.Usage.TokensToday == nil ||
		*q.Status.Usage.TokensToday != 20000 || q.Status.Usage.CostToday == nil || *q.Status.Usage.CostToday != "5" {
		t.Errorf("status %+v, usage %+v", q.Status, q.Status.Usage)
	}
	l.waitEvent(ns, "TokenQuota", "budget", corev1.EventTypeWarning, "ProjectedOverBudget", "would reach 134.0% by 00:00 UTC")
	if c := apimeta.FindStatusCondition(q.Status.Conditions, bw.ConditionLimitResolved); c == nil || c.Message != "Static limits: 10 USD/day" {
		t.Errorf("LimitResolved %+v", c)
	}
	if c := apimeta.FindStatusCondition(q.Status.Conditions, bw.ConditionMetricsAvailable); c == nil ||
		c.Message != "Measured 100 tokens/min over 1 ModelEndpoints; 20000 tokens and 5 USD since 00:00 UTC" {
		t.Errorf("MetricsAvailable %+v", c)
	}
	l.waitMetric("quota_usage_ratio cost_per_day", l.stats.QuotaUsageRatio.WithLabelValues(ns, "budget", "cost_per_day"), 0.5)
	l.replicas(ns, "batch", 3) // a projection never sheds by itself

	// 9.5 USD spent: 95%, past the shed threshold.
	l.usage.setToday(ns, "claude-haiku", 40000, 9.5, 0.01)
	eventually(t, "the quota to shed on its daily cost", func(ctx context.Context) (bool, error) {
		q, err := l.quota(ctx, ns)
		return err == nil && q.Status.State == bw.QuotaShedding && q.Status.UsedPercent == "95.0", err
	})
	l.waitShed(ns, "batch", 0, 3, "QuotaShedding")
}

// TestTokenQuotaDeletionRestores: deleting a quota that holds workloads shed restores them before
// the quota goes away, and its metric series go with it.
func TestTokenQuotaDeletionRestores(t *testing.T) {
	l := startLoopEnv(t)
	const ns = "deleted"
	l.quotaNamespace(ns, bw.ModeEnforce)
	l.workload(ns, "batch", bw.CriticalitySheddable, 6, 0)
	l.workload(ns, "chat", bw.CriticalityCritical, 2, 0)
	l.usage.set(ns, 950)
	l.waitShed(ns, "batch", 0, 6, "QuotaShedding")
	q, err := l.quota(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(q.Finalizers, controllers.FinalizerRestoreWorkloads) {
		t.Fatalf("finalizers %v, want %s", q.Finalizers, controllers.FinalizerRestoreWorkloads)
	}
	l.waitMetric("quota_state", l.stats.QuotaState.WithLabelValues(ns, "budget"), 2)

	if err := l.c.Delete(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	eventually(t, "batch restored", func(ctx context.Context) (bool, error) {
		d, w := l.get(ns, "batch")
		c := apimeta.FindStatusCondition(w.Status.Conditions, bw.ConditionShed)
		return *d.Spec.Replicas == 6 && w.Status.State == bw.WorkloadActive && w.Status.RememberedReplicas == nil &&
			c != nil && c.Status == metav1.ConditionFalse && c.Reason == "QuotaDeleted", nil
	})
	eventually(t, "the quota to be gone", func(ctx context.Context) (bool, error) {
		_, err := l.quota(ctx, ns)
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if d, _ := l.get(ns, "batch"); d.Annotations[scaler.AnnotationState] != "" {
		t.Errorf("batch keeps the annotation %s after its restore", scaler.AnnotationState)
	}
	l.replicas(ns, "chat", 2)
	l.waitEvent(ns, "GenAIWorkload", "batch", corev1.EventTypeNormal, "QuotaDeleted", "because TokenQuota budget was deleted")
	eventually(t, "the quota's series to be deleted", func(context.Context) (bool, error) {
		return testutil.CollectAndCount(l.stats.QuotaState) == 0 && testutil.CollectAndCount(l.stats.WorkloadsShed) == 0, nil
	})
	if got := testutil.ToFloat64(l.stats.Actions.WithLabelValues("scale_up", "QuotaDeleted", "applied")); got != 1 {
		t.Errorf("%v restores of a deleted quota counted, want 1", got)
	}
}

// TestTokenQuotaLoop replays an incident: usage ramps through Warning to Shedding, the metric
// source fails for a while, the manager restarts mid-shed after losing a status write, standard
// workloads are shed after the cooldown, usage falls back and everything is restored in reverse
// order to its remembered replicas. A critical workload is never touched.
func TestTokenQuotaLoop(t *testing.T) {
	l := startLoopEnv(t)
	const ns = "incident"
	l.quotaNamespace(ns, bw.ModeEnforce)
	l.workload(ns, "batch", bw.CriticalitySheddable, 6, 0)
	l.workload(ns, "reports", bw.CriticalityStandard, 4, 1)
	l.workload(ns, "chat", bw.CriticalityCritical, 3, 0)
	untouched := func() {
		t.Helper()
		l.replicas(ns, "chat", 3)
		if _, w := l.get(ns, "chat"); apimeta.FindStatusCondition(w.Status.Conditions, bw.ConditionShed) != nil {
			t.Errorf("the critical workload has a Shed condition: %+v", w.Status.Conditions)
		}
	}

	l.usage.set(ns, 500)
	q := l.waitQuota(ns, 500, bw.QuotaNormal)
	if q.Status.UsedPercent != "50.0" || q.Status.Limit != "1000 tokens/min" || !apimeta.IsStatusConditionTrue(q.Status.Conditions, bw.ConditionMetricsAvailable) {
		t.Errorf("Normal quota status %+v", q.Status)
	}

	l.usage.set(ns, 850)
	l.waitQuota(ns, 850, bw.QuotaWarning)
	l.waitEvent(ns, "TokenQuota", "budget", corev1.EventTypeWarning, "WarnThresholdReached", "Quota moved from Normal to Warning")
	l.evaluated(ns)
	l.replicas(ns, "batch", 6) // Warning clamps output tokens; nobody is scaled
	l.replicas(ns, "reports", 4)

	l.usage.set(ns, 950)
	l.waitQuota(ns, 950, bw.QuotaShedding)
	l.waitShed(ns, "batch", 0, 6, "QuotaShedding")
	l.waitEvent(ns, "GenAIWorkload", "batch", corev1.EventTypeWarning, "QuotaShedding",
		"Scaled batch from 6 to 0 replicas (its floor) because the quota is Shedding; 6 replicas remembered.")
	eventually(t, "the quota to list batch as shed", func(ctx context.Context) (bool, error) {
		q, err := l.quota(ctx, ns)
		return err == nil && strings.Join(q.Status.ShedWorkloads, ",") == "batch", err
	})
	l.replicas(ns, "reports", 4) // standard workloads wait a cooldown after the sheddable ones
	untouched()
	l.waitMetric("quota_state", l.stats.QuotaState.WithLabelValues(ns, "budget"), 2)
	l.waitMetric("workloads_shed", l.stats.WorkloadsShed.WithLabelValues(ns, "budget"), 1)
	l.waitMetric("quota_usage_ratio", l.stats.QuotaUsageRatio.WithLabelValues(ns, "budget", "tokens_per_minute"), 0.95)
	l.waitMetric("actions_total scale_down", l.stats.Actions.WithLabelValues("scale_down", "QuotaShedding", "applied"), 1)
	l.waitMetric("actions_total clamp_output", l.stats.Actions.WithLabelValues("clamp_output", "WarnThresholdReached", "applied"), 1)
	if got := testutil.ToFloat64(l.stats.Decisions.WithLabelValues("tokenquota", "Shedding", "ShedThresholdReached")); got < 1 {
		t.Errorf("no Shedding decision counted")
	}

	// The metric source fails: the state is held and, although the cooldown passes, nobody more is
	// shed on a figure that was not measured.
	l.usage.fail(true)
	eventually(t, "MetricsAvailable False", func(ctx context.Context) (bool, error) {
		q, err := l.quota(ctx, ns)
		c := apimeta.FindStatusCondition(q.Status.Conditions, bw.ConditionMetricsAvailable)
		return err == nil && c != nil && c.Status == metav1.ConditionFalse && c.Reason == bw.ReasonMetricsUnavailable, err
	})
	l.clock.Step(6 * time.Minute)
	l.evaluated(ns)
	if got := testutil.ToFloat64(l.stats.SourceErrors.WithLabelValues("prometheus")); got < 1 {
		t.Errorf("breakwater_manager_source_errors_total{source=prometheus} = %v while the source failed", got)
	}
	if got := testutil.ToFloat64(l.stats.Decisions.WithLabelValues("tokenquota", "Shedding", "MetricsUnavailable")); got < 1 {
		t.Errorf("no held decision counted while the source failed")
	}
	if q, _ := l.quota(context.Background(), ns); q.Status.State != bw.QuotaShedding {
		t.Errorf("quota state %s while metrics are unavailable, want Shedding held", q.Status.State)
	}
	l.replicas(ns, "reports", 4)
	l.replicas(ns, "batch", 0)

	// The manager stops after shedding batch but before its status write landed: the next manager
	// finds the shed in batch's annotations, records it without scaling batch again, and remembers
	// the same 6 replicas.
	l.stop()
	before, w := l.get(ns, "batch")
	patch := client.MergeFrom(w.DeepCopy())
	w.Status.State, w.Status.RememberedReplicas = bw.WorkloadActive, nil
	apimeta.RemoveStatusCondition(&w.Status.Conditions, bw.ConditionShed)
	if err := l.c.Status().Patch(context.Background(), w, patch); err != nil {
		t.Fatal(err)
	}
	l.usage.fail(false)
	l.startManager()
	l.waitShed(ns, "batch", 0, 6, "ShedRecorded")
	if after, _ := l.get(ns, "batch"); after.Generation != before.Generation {
		t.Errorf("batch was scaled again after the restart: generation %d → %d", before.Generation, after.Generation)
	}

	// batch's recorded shed counts as its last action: standard workloads follow a cooldown later.
	l.clock.Step(6 * time.Minute)
	l.waitShed(ns, "reports", 1, 4, "QuotaShedding")
	eventually(t, "the quota to list batch and reports as shed", func(ctx context.Context) (bool, error) {
		q, err := l.quota(ctx, ns)
		return err == nil && strings.Join(q.Status.ShedWorkloads, ",") == "batch,reports", err
	})
	untouched()

	// Usage falls into the hysteresis margin (below 90%, not below 85%): Shedding is held.
	l.usage.set(ns, 870)
	if q := l.waitQuota(ns, 870, bw.QuotaShedding); !strings.Contains(q.Status.UsedPercent, "87") {
		t.Errorf("usedPercent %q, want 87.0", q.Status.UsedPercent)
	}

	// Usage falls well below: Normal at once, restores only after a cooldown of Normal.
	l.usage.set(ns, 300)
	l.waitQuota(ns, 300, bw.QuotaNormal)
	l.waitEvent(ns, "TokenQuota", "budget", corev1.EventTypeNormal, "WithinLimits", "Quota moved from Shedding to Normal")
	l.evaluated(ns)
	l.replicas(ns, "reports", 1)
	l.replicas(ns, "batch", 0)

	l.clock.Step(6 * time.Minute)
	l.waitRestored(ns, "reports", 4) // standard first
	l.waitEvent(ns, "GenAIWorkload", "reports", corev1.EventTypeNormal, "QuotaRecovered",
		"Restored reports from 1 to 4 replicas because the quota has been Normal for at least 5m0s.")
	l.evaluated(ns)
	l.replicas(ns, "batch", 0) // sheddable a cooldown after the last standard restore

	l.clock.Step(6 * time.Minute)
	l.waitRestored(ns, "batch", 6)
	eventually(t, "the quota to list nobody as shed", func(ctx context.Context) (bool, error) {
		q, err := l.quota(ctx, ns)
		return err == nil && len(q.Status.ShedWorkloads) == 0, err
	})
	// One shed cycle (batch, then reports a cooldown later, the restart in between) is one start
	// in status.recentSheds: the next cycle's restore waits twice the cooldown.
	if q, _ := l.quota(context.Background(), ns); len(q.Status.RecentSheds) != 1 {
		t.Errorf("status.recentSheds %v after one shed cycle, want one start", q.Status.RecentSheds)
	}
	untouched()
	l.waitMetric("workloads_shed", l.stats.WorkloadsShed.WithLabelValues(ns, "budget"), 0)
	l.waitMetric("quota_state", l.stats.QuotaState.WithLabelValues(ns, "budget"), 0)
	l.waitMetric("actions_total scale_up", l.stats.Actions.WithLabelValues("scale_up", "QuotaRecovered", "applied"), 2)
	if got := testutil.ToFloat64(l.stats.Actions.WithLabelValues("scale_down", "QuotaShedding", "applied")); got != 2 {
		t.Errorf("%v scale_down actions counted, want 2 (batch, reports)", got)
	}

	// Shadow mode: the same incident changes the quota's status and Events only.
	const shadow = "shadow"
	l.quotaNamespace(shadow, bw.ModeShadow)
	l.workload(shadow, "batch", bw.CriticalitySheddable, 6, 0)
	l.usage.set(shadow, 950)
	l.waitQuota(shadow, 950, bw.QuotaShedding)
	l.waitEvent(shadow, "TokenQuota", "budget", corev1.EventTypeNormal, "QuotaShedding", "Shadow mode: not applied.")
	l.evaluated(shadow)
	l.evaluated(shadow)
	l.replicas(shadow, "batch", 6)
	// The unchanged shadow plan is recorded once, not on every evaluation.
	if n := l.countEvents(shadow, "budget", "QuotaShedding", "ScaleShadow"); n != 1 {
		t.Errorf("%d ScaleShadow Events for an unchanged plan, want 1", n)
	}
	if got := testutil.ToFloat64(l.stats.Actions.WithLabelValues("scale_down", "QuotaShedding", "shadow")); got != 1 {
		t.Errorf("%v shadow scale_down actions counted, want 1", got)
	}
	if got := testutil.ToFloat64(l.stats.Actions.WithLabelValues("clamp_output", "ShedThresholdReached", "shadow")); got != 1 {
		t.Errorf("%v shadow clamp_output actions counted, want 1", got)
	}
	if d, w := l.get(shadow, "batch"); d.Annotations[scaler.AnnotationState] != "" || w.Status.RememberedReplicas != nil ||
		apimeta.FindStatusCondition(w.Status.Conditions, bw.ConditionShed) != nil {
		t.Errorf("shadow mode acted on batch: annotations %v, status %+v", d.Annotations, w.Status)
	}

	// Someone scales a shed workload back up (a GitOps sync): the loop says so once, in the Shed
	// condition and an Event, and does not fight it.
	const reverted = "reverted"
	l.quotaNamespace(reverted, bw.ModeEnforce)
	l.workload(reverted, "batch", bw.CriticalitySheddable, 6, 0)
	l.usage.set(reverted, 950)
	l.waitShed(reverted, "batch", 0, 6, "QuotaShedding")
	d, _ := l.get(reverted, "batch")
	patch = client.MergeFrom(d.DeepCopy())
	d.Spec.Replicas = ptr[int32](5)
	if err := l.c.Patch(context.Background(), d, patch); err != nil {
		t.Fatal(err)
	}
	l.waitShed(reverted, "batch", 5, 6, "ShedReverted")
	l.waitEvent(reverted, "GenAIWorkload", "batch", corev1.EventTypeWarning, "ShedReverted", "was set back to 5 replicas while shed at 0")
	l.evaluated(reverted)
	l.replicas(reverted, "batch", 5)

	// One of two endpoints has no data: the other's usage alone proves the quota is over its
	// shed threshold, so it escalates; it would never relax on such a partial figure.
	const partial = "partial"
	l.quotaNamespace(partial, bw.ModeEnforce)
	second := &bw.ModelEndpoint{}
	sample(t, "breakwater_v1alpha1_modelendpoint.yaml", partial, second)
	second.Name = "claude-sonnet"
	l.create(second)
	q = &bw.TokenQuota{}
	if err := l.c.Get(context.Background(), client.ObjectKey{Namespace: partial, Name: "budget"}, q); err != nil {
		t.Fatal(err)
	}
	patch = client.MergeFrom(q.DeepCopy())
	q.Spec.Endpoints = append(q.Spec.Endpoints, bw.LocalObjectReference{Name: "claude-sonnet"})
	if err := l.c.Patch(context.Background(), q, patch); err != nil {
		t.Fatal(err)
	}
	l.usage.set(partial, 950)
	eventually(t, "the partly measured quota to escalate", func(ctx context.Context) (bool, error) {
		q, err := l.quota(ctx, partial)
		c := apimeta.FindStatusCondition(q.Status.Conditions, bw.ConditionMetricsAvailable)
		return err == nil && q.Status.State == bw.QuotaShedding && c != nil && c.Status == metav1.ConditionFalse &&
			strings.Contains(c.Message, `"claude-sonnet"`), err
	})
}
