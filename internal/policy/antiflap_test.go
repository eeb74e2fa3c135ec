package policy

import (
	"strings"
	"testing"
	"time"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

func TestRestoreFitsNeedsRoomForPreShedUsage(t *testing.T) {
	if RestoreFits(600, 300, 800) {
		t.Fatal("restored although pre-shed 600 + current 300 exceeds warn 800")
	}
	if !RestoreFits(400, 300, 800) {
		t.Fatal("held back although pre-shed 400 + current 300 fits below warn 800")
	}
	if !RestoreFits(-1, 900, 800) {
		t.Fatal("a workload without remembered usage must restore on the old rule")
	}
}

func TestCycleBackoffDoublesAndCaps(t *testing.T) {
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute}
	for n, w := range want {
		if got := CycleBackoff(n, time.Minute, 10*time.Minute); got != w {
			t.Fatalf("cycles %d: got %v, want %v", n, got, w)
		}
	}
}

func TestCyclesSinceResetsAfterQuietPeriod(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	sheds := []time.Time{now.Add(-3 * time.Hour), now.Add(-50 * time.Minute), now.Add(-10 * time.Minute)}
	if got := CyclesSince(sheds, now, time.Hour, 30*time.Minute); got != 2 {
		t.Fatalf("got %d cycles in the last hour, want 2", got)
	}
	if got := CyclesSince(sheds, now.Add(time.Hour), time.Hour, 30*time.Minute); got != 0 {
		t.Fatalf("got %d cycles after a quiet hour, want 0", got)
	}
}

// A region failing for six hours with a 10-minute stable period: failback probes doubling the wait
// after each failure stay within log2(6h/10m)+1 probes.
func TestFailbackProbesDuringSixHourOutage(t *testing.T) {
	period, ceiling, outage := 10*time.Minute, 4*time.Hour, 6*time.Hour
	probes, failed := 0, 0
	for at := time.Duration(0); ; {
		at += FailbackStablePeriod(period, failed, ceiling)
		if at >= outage {
			break
		}
		probes++
		failed++
	}
	t.Logf("6h outage, stable period %v: %d failback probes (one per period would be %d)", period, probes, int(outage/period))
	if limit := 6; probes > limit { // log2(36) ≈ 5.2
		t.Fatalf("%d failback probes, want at most %d", probes, limit)
	}
}

func TestStrictestQuotaStateHolds(t *testing.T) {
	_, at := StrictestQuotaState([]int{1, 3, 2}, func(s int) int { return s })
	if at != 1 {
		t.Fatalf("strictest at %d, want 1", at)
	}
}

func TestRestoreWaitDoublesPerRecentShedCycle(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	const cooldown = 5 * time.Minute
	var sheds []time.Time
	for i, want := range []time.Duration{5, 10, 20, 40, 80, 160, 160, 160, 160} {
		sheds = RecordShedCycle(sheds, now.Add(time.Duration(i)*time.Hour), true)
		if got := RestoreWait(sheds, now.Add(time.Duration(i)*time.Hour), cooldown); got != want*time.Minute {
			t.Errorf("after %d cycle starts an hour apart: wait %s, want %s", i+1, got, want*time.Minute)
		}
	}
	if len(sheds) != MaxShedCycles {
		t.Errorf("%d cycle starts kept, want the newest %d", len(sheds), MaxShedCycles)
	}
	last := now.Add(8 * time.Hour)
	if got := RestoreWait(sheds, last.Add(ShedCycleQuiet), cooldown); got != cooldown {
		t.Errorf("after %s without a shed: wait %s, want the plain cooldown", ShedCycleQuiet, got)
	}
	if got := RecordShedCycle(sheds, last.Add(time.Minute), false); len(got) != len(sheds) {
		t.Error("an evaluation that starts no cycle changed the list")
	}
	if got := RecordShedCycle(sheds, last.Add(ShedCycleWindow+time.Hour), true); len(got) != 1 {
		t.Errorf("a cycle a day later kept %d old starts, want none", len(got)-1)
	}
}

func TestScaleWaitsRestoreWait(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	shed := WorkloadInput{Name: "batch", Criticality: breakwaterv1alpha1.CriticalitySheddable, Replicas: 0, Remembered: new(int32(4)),
		LastAction: now.Add(-time.Hour)}
	in := ScaleInput{Now: now, State: breakwaterv1alpha1.QuotaNormal, StateSince: now.Add(-15 * time.Minute),
		Cooldown: 5 * time.Minute, Workloads: []WorkloadInput{shed},
		// Two cycles before the current one: 5 min doubled twice.
		RecentSheds: []time.Time{now.Add(-3 * time.Hour), now.Add(-2 * time.Hour), now.Add(-30 * time.Minute)}}
	if plan := Scale(in); len(plan.Actions) != 0 || plan.Reason != breakwaterv1alpha1.ReasonRestorePending ||
		!strings.Contains(plan.Message, "Normal for 20m0s") {
		t.Fatalf("Normal for 15 min with a 20 min restore wait: %+v, want RestorePending", plan)
	}
	in.StateSince = now.Add(-20 * time.Minute)
	plan := Scale(in)
	if len(plan.Actions) != 1 || !plan.Actions[0].Restore {
		t.Fatalf("Normal for the restore wait: %+v, want the restore", plan)
	}
	if len(plan.RecentSheds) != 3 {
		t.Errorf("a restore recorded a shed cycle: %v", plan.RecentSheds)
	}
	// Shedding from none shed starts a cycle; shedding more of an ongoing one does not.
	active := WorkloadInput{Name: "batch", Criticality: breakwaterv1alpha1.CriticalitySheddable, Replicas: 4}
	in = ScaleInput{Now: now, State: breakwaterv1alpha1.QuotaShedding, StateSince: now, Workloads: []WorkloadInput{active}}
	if plan := Scale(in); len(plan.Actions) != 1 || len(plan.RecentSheds) != 1 || !plan.RecentSheds[0].Equal(now) {
		t.Errorf("first shed: %+v, want one action and a cycle start at now", plan)
	}
	in.Shadow = true
	if plan := Scale(in); len(plan.RecentSheds) != 0 {
		t.Errorf("a shadow plan recorded a shed cycle: %v", plan.RecentSheds)
	}
}
