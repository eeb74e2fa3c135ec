package policy

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

const (
	critical  = breakwaterv1alpha1.CriticalityCritical
	standard  = breakwaterv1alpha1.CriticalityStandard
	sheddable = breakwaterv1alpha1.CriticalitySheddable
)

// fleet: one workload of each criticality, none shed, never acted on.
func fleet() []WorkloadInput {
	return []WorkloadInput{
		{Name: "api", Criticality: critical, Replicas: 3},
		{Name: "batch", Criticality: sheddable, Replicas: 5},
		{Name: "chat", Criticality: standard, Replicas: 4, MinReplicas: 1},
	}
}

type scaleOutcome struct {
	Actions []string // "name from→to"
	Reason  string
	Apply   bool
	Shed    []string
}

func scOutcome(p ScalePlan) scaleOutcome {
	o := scaleOutcome{Reason: p.Reason, Apply: p.Apply, Shed: p.Shed}
	for _, a := range p.Actions {
		o.Actions = append(o.Actions, a.Workload+" "+itoa(a.From)+"→"+itoa(a.To))
	}
	return o
}

func itoa(i int32) string { return strconv.Itoa(int(i)) }

func TestScale(t *testing.T) {
	shedAgo := func(ws []WorkloadInput, name string, remembered int32, ago time.Duration) []WorkloadInput {
		for i := range ws {
			if ws[i].Name == name {
				ws[i].Remembered = new(remembered)
				ws[i].Replicas = max(ws[i].MinReplicas, 0)
				ws[i].LastAction = noon.Add(-ago)
			}
		}
		return ws
	}
	in := func(state breakwaterv1alpha1.QuotaState, since time.Duration, ws []WorkloadInput) ScaleInput {
		return ScaleInput{Now: noon, State: state, StateSince: noon.Add(-since), Workloads: ws}
	}
	const (
		normal    = breakwaterv1alpha1.QuotaNormal
		warning   = breakwaterv1alpha1.QuotaWarning
		shedding  = breakwaterv1alpha1.QuotaShedding
		exhausted = breakwaterv1alpha1.QuotaExhausted
	)
	tests := []struct {
		name string
		in   ScaleInput
		want scaleOutcome
	}{
		{"normal, nothing shed", in(normal, time.Hour, fleet()), scaleOutcome{nil, breakwaterv1alpha1.ReasonSteady, false, nil}},
		{"warning scales nobody", in(warning, time.Hour, fleet()), scaleOutcome{nil, breakwaterv1alpha1.ReasonClampOnly, false, nil}},
		{"warning keeps shed workloads shed", in(warning, time.Hour, shedAgo(fleet(), "batch", 5, time.Hour)),
			scaleOutcome{nil, breakwaterv1alpha1.ReasonRestorePending, false, []string{"batch"}}},
		{"shedding sheds sheddable first", in(shedding, 0, fleet()),
			scaleOutcome{[]string{"batch 5→0"}, breakwaterv1alpha1.ReasonShedForQuota, true, []string{"batch"}}},
		{"standard waits for the sheddable step to settle", in(shedding, time.Hour, shedAgo(fleet(), "batch", 5, time.Minute)),
			scaleOutcome{nil, breakwaterv1alpha1.ReasonShedPending, false, []string{"batch"}}},
		{"standard waits for the state to last a cooldown", in(shedding, time.Minute, shedAgo(fleet(), "batch", 5, time.Hour)),
			scaleOutcome{nil, breakwaterv1alpha1.ReasonShedPending, false, []string{"batch"}}},
		{"then standard, to its floor", in(shedding, 5*time.Minute, shedAgo(fleet(), "batch", 5, 5*time.Minute)),
			scaleOutcome{[]string{"chat 4→1"}, breakwaterv1alpha1.ReasonShedForQuota, true, []string{"batch", "chat"}}},
		{"no sheddable workloads: standard after a cooldown of Shedding", in(shedding, 5*time.Minute, []WorkloadInput{fleet()[0], fleet()[2]}),
			scaleOutcome{[]string{"chat 4→1"}, breakwaterv1alpha1.ReasonShedForQuota, true, []string{"chat"}}},
		{"exhausted sheds sheddable and standard at once", in(exhausted, 0, fleet()),
			scaleOutcome{[]string{"batch 5→0", "chat 4→1"}, breakwaterv1alpha1.ReasonShedForExhaustedQuota, true, []string{"batch", "chat"}}},
		{"one action per workload per cooldown", in(exhausted, 0, func() []WorkloadInput {
			ws := fleet()
			ws[2].LastAction = noon.Add(-4 * time.Minute) // chat was restored 4 minutes ago
			return ws
		}()), scaleOutcome{[]string{"batch 5→0"}, breakwaterv1alpha1.ReasonShedForExhaustedQuota, true, []string{"batch"}}},
		{"at or below the floor: nothing to do", in(exhausted, 0, func() []WorkloadInput {
			ws := fleet()
			ws[1].Replicas, ws[2].Replicas = 0, 1
			return ws
		}()), scaleOutcome{nil, breakwaterv1alpha1.ReasonSteady, false, nil}},
		{"normal too recently: restore waits", in(normal, 4*time.Minute, shedAgo(shedAgo(fleet(), "batch", 5, time.Hour), "chat", 4, time.Hour)),
			scaleOutcome{nil, breakwaterv1alpha1.ReasonRestorePending, false, []string{"batch", "chat"}}},
		{"restore standard first", in(normal, 5*time.Minute, shedAgo(shedAgo(fleet(), "batch", 5, time.Hour), "chat", 4, time.Hour)),
			scaleOutcome{[]string{"chat 1→4"}, breakwaterv1alpha1.ReasonRestored, true, []string{"batch"}}},
		{"sheddable waits for the standard restore to settle", in(normal, time.Hour, func() []WorkloadInput {
			ws := shedAgo(fleet(), "batch", 5, time.Hour)
			ws[2].LastAction = noon.Add(-time.Minute)
			return ws
		}()), scaleOutcome{nil, breakwaterv1alpha1.ReasonRestorePending, false, []string{"batch"}}},
		{"then sheddable", in(normal, time.Hour, func() []WorkloadInput {
			ws := shedAgo(fleet(), "batch", 5, time.Hour)
			ws[2].LastAction = noon.Add(-5 * time.Minute)
			return ws
		}()), scaleOutcome{[]string{"batch 0→5"}, breakwaterv1alpha1.ReasonRestored, true, nil}},
		{"a shed workload scaled up meanwhile keeps its count", in(normal, time.Hour, func() []WorkloadInput {
			ws := shedAgo(fleet(), "batch", 5, time.Hour)
			ws[1].Replicas = 7
			return ws
		}()), scaleOutcome{[]string{"batch 7→7"}, breakwaterv1alpha1.ReasonRestored, true, nil}},
		{"critical is never shed", in(exhausted, time.Hour, fleet()[:1]), scaleOutcome{nil, breakwaterv1alpha1.ReasonSteady, false, nil}},
		{"a shed workload that became critical is restored", in(shedding, time.Hour, func() []WorkloadInput {
			ws := shedAgo(fleet(), "batch", 5, time.Hour)
			ws[1].Criticality = critical
			return ws[:2]
		}()), scaleOutcome{[]string{"batch 0→5"}, breakwaterv1alpha1.ReasonCriticalRestored, true, nil}},
		{"shadow lists without applying", func() ScaleInput {
			s := in(exhausted, 0, fleet())
			s.Shadow = true
			return s
		}(), scaleOutcome{[]string{"batch 5→0", "chat 4→1"}, breakwaterv1alpha1.ReasonShedForExhaustedQuota, false, []string{"batch", "chat"}}},
		{"metrics unavailable: nobody shed", func() ScaleInput {
			s := in(exhausted, time.Hour, fleet())
			s.MetricsUnavailable = true
			return s
		}(), scaleOutcome{nil, breakwaterv1alpha1.ReasonMetricsUnavailable, false, nil}},
		{"metrics unavailable: nobody restored", func() ScaleInput {
			s := in(normal, time.Hour, shedAgo(fleet(), "chat", 4, time.Hour))
			s.MetricsUnavailable = true
			return s
		}(), scaleOutcome{nil, breakwaterv1alpha1.ReasonMetricsUnavailable, false, []string{"chat"}}},
		{"empty criticality is standard", in(exhausted, 0, []WorkloadInput{{Name: "x", Replicas: 2}}),
			scaleOutcome{[]string{"x 2→0"}, breakwaterv1alpha1.ReasonShedForExhaustedQuota, true, []string{"x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Scale(tt.in)
			if diff := cmp.Diff(tt.want, scOutcome(got)); diff != "" {
				t.Errorf("Scale (-want +got):\n%s\nmessage: %s", diff, got.Message)
			}
			if got.Message == "" {
				t.Error("empty message")
			}
		})
	}
}

func TestScaleActionDetail(t *testing.T) {
	got := Scale(ScaleInput{Now: noon, State: breakwaterv1alpha1.QuotaShedding, Workloads: fleet()})
	want := []ScaleAction{{
		Workload: "batch", Criticality: sheddable, From: 5, To: 0, Remember: new(int32(5)), Reason: breakwaterv1alpha1.ReasonShedForQuota,
		Message: "Scaled batch from 5 to 0 replicas (its floor) because the quota is Shedding; 5 replicas remembered.",
	}}
	if diff := cmp.Diff(want, got.Actions); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if got.Message != "Scaled batch 5→0 (quota Shedding)." {
		t.Errorf("plan message = %q", got.Message)
	}
}
