package harness

import (
	"context"
	"fmt"
	"io"
	"sync"
	"text/tabwriter"
	"time"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/promsource"
	"github.com/breakwater-dev/breakwater/test/upstreamsim"
)

// Transition is one expected reaction of the system to a trigger of the story.
type Transition struct {
	Step     string
	Name     string
	Trigger  time.Time
	Reaction time.Time
}

// Took is the time from the trigger to the reaction.
func (t Transition) Took() time.Duration { return t.Reaction.Sub(t.Trigger) }

// Timeline is what the story saw happen.
type Timeline struct {
	Start       time.Time
	Transitions []Transition
	// MinReplicas is the least spec.replicas each Deployment had during the story.
	MinReplicas map[string]int32
}

// Find returns the transition with that name.
func (tl Timeline) Find(name string) (Transition, bool) {
	for _, t := range tl.Transitions {
		if t.Name == name {
			return t, true
		}
	}
	return Transition{}, false
}

// Print writes the timeline as a table.
func (tl Timeline) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tSTEP\tREACTION\tTRIGGER→REACTION")
	for _, t := range tl.Transitions {
		fmt.Fprintf(tw, "%6.1fs\t%s\t%s\t%.1fs\n", t.Reaction.Sub(tl.Start).Seconds(), t.Step, t.Name, t.Took().Seconds())
	}
	_ = tw.Flush()
}

// Names of the transitions the story expects, in order.
const (
	TGuardsFailOver    = "guards answer from us-west-2 (local fallback)"
	TManagerShifts     = "manager shifts weight off us-east-1 in every guard config"
	TAllOnBackup       = "us-east-1 weight 0 in every guard config"
	TFailbackStarts    = "failback: us-east-1 weight back above 0"
	TFailbackDone      = "failback complete: us-east-1 weight 100"
	TQuotaWarning      = "TokenQuota Warning"
	TClampLowered      = "output-token clamp lowered in every guard config"
	TQuotaShedding     = "TokenQuota Shedding"
	TSheddableScaled   = "report-summarizer scaled down to its floor"
	TStandardScaled    = "support-assistant scaled down to its floor"
	TQuotaNormal       = "TokenQuota back to Normal"
	TStandardRestored  = "support-assistant restored"
	TSheddableRestored = "report-summarizer restored"
	TBurstRefused      = "the guards refuse standard and sheddable calls at the request"
	TBurstHeld         = "a minute at 3x: no provider throttle, every critical call served"
	TBurstRestored     = "after the burst, every workload restored"
)

// mix is a load level: each workload's share of the TokenQuota's limit, in claude tokens per
// minute.
type mix struct{ critical, standard, sheddable float64 }

// story is the state of one run of Story.
type story struct {
	s        *System
	out      io.Writer
	tl       Timeline
	step     string
	stepAt   time.Time
	tokenPer float64 // tokens of one Converse answer
	mu       sync.Mutex
	stopKube chan struct{}
	kubeDone chan struct{}
}

// Story plays the scripted incident: steady state, a region throttling and recovering, usage
// ramping toward the TokenQuota and falling back. It prints what a person would look at after each
// step and returns the timeline; it fails on the first expected transition that does not happen.
func (s *System) Story(ctx context.Context, out io.Writer) (Timeline, error) {
	st := s.newStory(ctx, out)
	defer st.close()
	err := st.play(ctx)
	return st.tl, err
}

// newStory starts the load generators (at a low rate) and the stand-in for the kubelet.
func (s *System) newStory(ctx context.Context, out io.Writer) *story {
	st := &story{s: s, out: out, tl: Timeline{Start: time.Now(), MinReplicas: map[string]int32{}},
		stopKube: make(chan struct{}), kubeDone: make(chan struct{})}
	for _, w := range Workloads {
		l := newLoad(w, s.Guards[w.Name].URL)
		s.Loads[w.Name] = l
		st.tl.MinReplicas[w.Name] = w.Replicas
	}
	go st.kubelet(ctx)
	for _, l := range s.Loads {
		l.SetRate(1)
		go l.run()
	}
	return st
}

func (st *story) close() { close(st.stopKube); <-st.kubeDone }

// Detection holds the manager's two reaction times that `make bench` reports.
type Detection struct {
	// Shift: from the simulator starting to throttle us-east-1 to new weights in every guard config.
	Shift Transition
	// Shed: from the quota's usage, as Prometheus computes it with the manager's own query,
	// crossing the shed threshold to the sheddable Deployment's replicas changing.
	Shed Transition
}

// MeasureDetection plays the two triggers of the story that the manager must detect, without the
// recoveries, and measures how long the manager takes to act on each.
func (s *System) MeasureDetection(ctx context.Context, out io.Writer) (Detection, error) {
	st := s.newStory(ctx, out)
	defer st.close()
	var d Detection
	if err := st.calibrate(); err != nil {
		return d, err
	}
	t := s.opts.Timing
	long := 3*t.Evaluation + 2*t.FailoverWindow + 30*time.Second
	st.setMix(mix{0.15, 0.10, 0.10})
	time.Sleep(t.FailoverWindow)

	st.begin("us-east-1 starts throttling 60% of calls")
	s.Sims["east"].SetFaults(upstreamsim.Faults{ThrottleRate: 0.6, RetryAfter: time.Second})
	trigger := time.Now()
	if err := st.expect(ctx, trigger, TManagerShifts, long, st.weightsEverywhere(ctx, func(w map[string]int) bool { return w[PrimaryTarget] < 100 })); err != nil {
		return d, err
	}
	d.Shift = st.tl.Transitions[len(st.tl.Transitions)-1]
	s.Sims["east"].SetFaults(upstreamsim.Faults{})

	st.begin("Usage ramps to about 95% of the TokenQuota")
	q, err := s.Quota(ctx)
	if err != nil {
		return d, err
	}
	threshold := float64(s.opts.TokensPerMinute) * float64(q.Spec.Thresholds.ShedPercent) / 100
	usage := promsource.TokensPerMinuteQuery(promsource.Scope{Namespace: Namespace, Endpoints: []string{EndpointName},
		Window: t.QuotaWindow, SumTargets: true})
	st.setMix(mix{0.60, 0.20, 0.15})
	rampAt := time.Now()
	if err := st.expect(ctx, rampAt, TSheddableScaled, 2*t.QuotaWindow+30*time.Second,
		func() (bool, error) {
			n, err := s.Replicas(ctx, "report-summarizer")
			return err == nil && n != Workloads[2].Replicas, err
		}); err != nil {
		return d, err
	}
	d.Shed = st.tl.Transitions[len(st.tl.Transitions)-1]
	// The trigger is the first instant at which Prometheus, evaluating the manager's own query,
	// had usage at the threshold: read back afterwards, at 100ms resolution, so that it does not
	// depend on how often anyone polled.
	crossed, err := s.firstAtLeast(ctx, usage, threshold, rampAt, d.Shed.Reaction)
	if err != nil {
		return d, err
	}
	d.Shed.Trigger = crossed
	fmt.Fprintf(out, "  usage reached %.0f tokens/min (shed threshold) in Prometheus %.1fs after the ramp; replicas changed %.1fs later\n",
		threshold, crossed.Sub(rampAt).Seconds(), d.Shed.Took().Seconds())
	return d, nil
}

// firstAtLeast is the first instant in [from, to] at which the query's sum was at least v.
func (s *System) firstAtLeast(ctx context.Context, query string, v float64, from, to time.Time) (time.Time, error) {
	m, err := s.QueryRange(ctx, "sum("+query+")", from, to, 100*time.Millisecond)
	if err != nil {
		return time.Time{}, err
	}
	for _, series := range m {
		for _, p := range series.Values {
			if float64(p.Value) >= v {
				return p.Timestamp.Time(), nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("usage never reached %.0f between the ramp and the reaction", v)
}

// calibrate measures the tokens of one Converse answer from the first seconds of low load.
func (st *story) calibrate() error {
	time.Sleep(4 * time.Second)
	c := st.s.Loads["report-summarizer"].Snapshot()
	ok := c.Outcomes["ok"]
	if ok == 0 || c.Tokens == 0 {
		return fmt.Errorf("no answered calls in the first seconds: %s; see the guard logs in %s", c, st.s.opts.WorkDir)
	}
	st.tokenPer = float64(c.Tokens) / float64(ok)
	fmt.Fprintf(st.out, "  one Converse answer is %.0f tokens; the TokenQuota allows %d tokens/min\n", st.tokenPer, st.s.opts.TokensPerMinute)
	return nil
}

// kubelet plays the parts of the cluster that do not run here: the ReplicaSet controller (pods
// follow spec.replicas) and the pods themselves (the load follows the replica count).
func (st *story) kubelet(ctx context.Context) {
	defer close(st.kubeDone)
	for {
		select {
		case <-st.stopKube:
			return
		case <-time.After(500 * time.Millisecond):
		}
		_ = st.s.SyncPods(ctx)
		for _, w := range Workloads {
			n, err := st.s.Replicas(ctx, w.Name)
			if err != nil {
				continue
			}
			st.s.Loads[w.Name].replicas.Store(n)
			st.mu.Lock()
			if n < st.tl.MinReplicas[w.Name] {
				st.tl.MinReplicas[w.Name] = n
			}
			st.mu.Unlock()
		}
	}
}

func (st *story) begin(title string) {
	st.step, st.stepAt = title, time.Now()
	fmt.Fprintf(st.out, "\n=== %s (t=%.0fs)\n", title, time.Since(st.tl.Start).Seconds())
}

// show prints the state at the end of a step.
func (st *story) show(ctx context.Context, since map[string]Counts) {
	st.s.ShowState(ctx, st.out, st.stepAt)
	st.s.ShowFigures(ctx, st.out)
	for _, w := range Workloads {
		d := st.s.Loads[w.Name].Snapshot().Sub(since[w.Name])
		fmt.Fprintf(st.out, "  traffic of %-19s %s\n", w.Name+":", d)
	}
}

func (st *story) snapshot() map[string]Counts {
	m := map[string]Counts{}
	for name, l := range st.s.Loads {
		m[name] = l.Snapshot()
	}
	return m
}

// expect waits for cond and records the transition, measured from trigger.
func (st *story) expect(ctx context.Context, trigger time.Time, name string, timeout time.Duration, cond func() (bool, error)) error {
	if err := st.s.waitFor(ctx, timeout, name, cond); err != nil {
		fmt.Fprintf(st.out, "  ✗ %v\n", err)
		st.s.ShowState(ctx, st.out, st.stepAt)
		return fmt.Errorf("step %q: %w", st.step, err)
	}
	t := Transition{Step: st.step, Name: name, Trigger: trigger, Reaction: time.Now()}
	st.tl.Transitions = append(st.tl.Transitions, t)
	fmt.Fprintf(st.out, "  ✓ %s after %.1fs\n", name, t.Took().Seconds())
	return nil
}

// setMix sets per-replica rates so that each workload's claude tokens per minute is its share of
// the quota's limit at the Deployment's initial replica count.
func (st *story) setMix(m mix) {
	limit := float64(st.s.opts.TokensPerMinute)
	for _, w := range Workloads {
		share := m.standard
		switch w.Criticality {
		case breakwaterv1alpha1.CriticalityCritical:
			share = m.critical
		case breakwaterv1alpha1.CriticalitySheddable:
			share = m.sheddable
		}
		// Fraction of this workload's requests that are claude Converse calls (see Load.run).
		converse := 1.0
		if len(w.Backends) > 0 {
			converse = 0.5
		} else if len(w.Endpoints) > 1 {
			converse = 0.75
		}
		perSecond := share * limit / 60 / st.tokenPer / converse
		st.s.Loads[w.Name].SetRate(perSecond / float64(w.Replicas))
	}
}

func (st *story) weightsEverywhere(ctx context.Context, ok func(map[string]int) bool) func() (bool, error) {
	return func() (bool, error) {
		for _, w := range Workloads {
			wts, err := st.s.Weights(ctx, w.Name)
			if err != nil {
				return false, err
			}
			if !ok(wts) {
				return false, nil
			}
		}
		return true, nil
	}
}

func (st *story) quotaState(ctx context.Context, want breakwaterv1alpha1.QuotaState) func() (bool, error) {
	return func() (bool, error) {
		q, err := st.s.Quota(ctx)
		if err != nil {
			return false, err
		}
		return q.Status.State == want, nil
	}
}

func (st *story) replicas(ctx context.Context, workload string, want int32) func() (bool, error) {
	return func() (bool, error) {
		n, err := st.s.Replicas(ctx, workload)
		return err == nil && n == want, err
	}
}

func (st *story) play(ctx context.Context) error {
	t := st.s.opts.Timing
	long := 3*t.Evaluation + 2*t.FailoverWindow + 30*time.Second

	st.begin("Steady state: three workloads call claude in us-east-1 through their guards")
	if err := st.calibrate(); err != nil {
		return err
	}
	st.setMix(mix{0.15, 0.10, 0.10})
	base := st.snapshot()
	time.Sleep(t.FailoverWindow)
	st.show(ctx, base)

	st.begin("us-east-1 starts throttling 60% of calls")
	base = st.snapshot()
	st.s.Sims["east"].SetFaults(upstreamsim.Faults{ThrottleRate: 0.6, RetryAfter: time.Second})
	trigger := time.Now()
	westBefore := map[string]int64{}
	for name, c := range base {
		westBefore[name] = c.Targets[BackupTarget]
	}
	if err := st.expect(ctx, trigger, TGuardsFailOver, 20*time.Second, func() (bool, error) {
		for name, l := range st.s.Loads {
			if l.Snapshot().Targets[BackupTarget] > westBefore[name] {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return err
	}
	if err := st.expect(ctx, trigger, TManagerShifts, long, st.weightsEverywhere(ctx, func(w map[string]int) bool { return w[PrimaryTarget] < 100 })); err != nil {
		return err
	}
	if err := st.expect(ctx, trigger, TAllOnBackup, long+t.ShiftCooldown, st.weightsEverywhere(ctx, func(w map[string]int) bool { return w[PrimaryTarget] == 0 })); err != nil {
		return err
	}
	st.show(ctx, base)

	st.begin("us-east-1 recovers")
	base = st.snapshot()
	st.s.Sims["east"].SetFaults(upstreamsim.Faults{})
	trigger = time.Now()
	if err := st.expect(ctx, trigger, TFailbackStarts, long+t.Stable, st.weightsEverywhere(ctx, func(w map[string]int) bool { return w[PrimaryTarget] > 0 })); err != nil {
		return err
	}
	if err := st.expect(ctx, trigger, TFailbackDone, long+t.Stable+2*t.ShiftCooldown, st.weightsEverywhere(ctx, func(w map[string]int) bool { return w[PrimaryTarget] == 100 })); err != nil {
		return err
	}
	st.show(ctx, base)

	quotaLong := t.QuotaWindow + 3*t.Evaluation + 30*time.Second
	st.begin("Usage ramps to about 67% of the TokenQuota")
	base = st.snapshot()
	st.setMix(mix{0.40, 0.15, 0.12})
	trigger = time.Now()
	if err := st.expect(ctx, trigger, TQuotaWarning, quotaLong, st.quotaState(ctx, breakwaterv1alpha1.QuotaWarning)); err != nil {
		return err
	}
	if err := st.expect(ctx, trigger, TClampLowered, quotaLong, func() (bool, error) {
		for _, w := range Workloads {
			cfg, err := st.s.GuardConfig(ctx, w.Name)
			if err != nil || cfg.Quota.OutputTokenClamp == 0 {
				return false, err
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	st.show(ctx, base)

	st.begin("Usage ramps to about 95% of the TokenQuota")
	base = st.snapshot()
	st.setMix(mix{0.60, 0.20, 0.15})
	trigger = time.Now()
	if err := st.expect(ctx, trigger, TQuotaShedding, quotaLong, st.quotaState(ctx, breakwaterv1alpha1.QuotaShedding)); err != nil {
		return err
	}
	if err := st.expect(ctx, trigger, TSheddableScaled, quotaLong, st.replicas(ctx, "report-summarizer", Workloads[2].MinReplicas)); err != nil {
		return err
	}
	if err := st.expect(ctx, trigger, TStandardScaled, quotaLong+t.ScaleCooldn, st.replicas(ctx, "support-assistant", Workloads[1].MinReplicas)); err != nil {
		return err
	}
	st.show(ctx, base)

	st.begin("The critical workload's traffic falls back")
	base = st.snapshot()
	st.setMix(mix{0.10, 0.20, 0.15})
	trigger = time.Now()
	if err := st.expect(ctx, trigger, TQuotaNormal, quotaLong+2*t.QuotaMinDwell, st.quotaState(ctx, breakwaterv1alpha1.QuotaNormal)); err != nil {
		return err
	}
	if err := st.expect(ctx, trigger, TStandardRestored, quotaLong+2*t.QuotaMinDwell+t.ScaleCooldn, st.replicas(ctx, "support-assistant", Workloads[1].Replicas)); err != nil {
		return err
	}
	if err := st.expect(ctx, trigger, TSheddableRestored, quotaLong+2*t.QuotaMinDwell+2*t.ScaleCooldn, st.replicas(ctx, "report-summarizer", Workloads[2].Replicas)); err != nil {
		return err
	}
	time.Sleep(3 * time.Second)
	st.show(ctx, base)

	st.begin("A burst at 3 times the TokenQuota, against a provider quota equal to it")
	base = st.snapshot()
	throttled := func() int64 {
		var n int64
		for _, sim := range st.s.Sims {
			n += sim.Stats().QuotaThrottled
		}
		return n
	}
	for _, role := range []string{"east", "west"} {
		st.s.Sims[role].SetQuota(upstreamsim.Quota{TokensPerMinute: st.s.opts.TokensPerMinute})
	}
	throttledBefore := throttled()
	// Standard demand alone stays above what is left after critical traffic even once the
	// manager sheds it to its floor (a third), so admission keeps refusing at the request.
	st.setMix(mix{0.45, 2.25, 0.30})
	trigger = time.Now()
	if err := st.expect(ctx, trigger, TBurstRefused, 30*time.Second, func() (bool, error) {
		for _, name := range []string{"report-summarizer", "support-assistant"} {
			d := st.s.Loads[name].Snapshot().Sub(base[name])
			// Admission at the request first; once the quota's state says Shedding or Exhausted
			// (the demo's evaluations are fast), the state refuses before admission is asked.
			if d.Outcomes["refused:admission_shed"]+d.Outcomes["refused:admission_exhausted"]+
				d.Outcomes["refused:quota_shed"]+d.Outcomes["refused:quota_exhausted"] > 0 {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return err
	}
	time.Sleep(70 * time.Second) // a whole minute of the provider's window at 3x
	if err := st.expect(ctx, trigger, TBurstHeld, time.Second, func() (bool, error) {
		if n := throttled() - throttledBefore; n > 0 {
			return false, fmt.Errorf("the provider throttled %d calls", n)
		}
		d := st.s.Loads["checkout-assistant"].Snapshot().Sub(base["checkout-assistant"])
		if d.Answered() != d.Outcomes["ok"] {
			return false, fmt.Errorf("the critical workload's answers: %v", d.Outcomes)
		}
		return true, nil
	}); err != nil {
		return err
	}
	// Demand falls back; the workloads the quota shed come back (the second shed cycle of the
	// story waits twice the cooldown before its first restore).
	st.setMix(mix{0.10, 0.20, 0.15})
	trigger = time.Now()
	restored := func() (bool, error) {
		for _, w := range Workloads {
			if n, err := st.s.Replicas(ctx, w.Name); err != nil || n != w.Replicas {
				return false, err
			}
		}
		return true, nil
	}
	if err := st.expect(ctx, trigger, TBurstRestored, quotaLong+2*t.QuotaMinDwell+6*t.ScaleCooldn, restored); err != nil {
		return err
	}
	st.show(ctx, base)
	return nil
}

// StopLoad stops every load generator and waits for their requests to finish.
func (s *System) StopLoad() {
	for _, l := range s.Loads {
		l.Stop()
	}
}

// Lost are the requests that got no HTTP answer, by workload, with some of their errors.
func (s *System) Lost() map[string][]string {
	m := map[string][]string{}
	for name, l := range s.Loads {
		c := l.Snapshot()
		if n := c.Outcomes["lost"]; n > 0 || c.Sent != c.Answered() {
			m[name] = append([]string{fmt.Sprintf("sent %d, answered %d, lost %d", c.Sent, c.Answered(), n)}, l.LostErrors()...)
		}
	}
	return m
}

// Summary prints each workload's totals.
func (s *System) Summary(w io.Writer) {
	for _, wl := range Workloads {
		fmt.Fprintf(w, "  %-19s %s\n", wl.Name+":", s.Loads[wl.Name].Snapshot())
	}
}
