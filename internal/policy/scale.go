package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

// DefaultScaleCooldown is the least time between two actions on one workload, between shedding
// sheddable and standard workloads, and between the quota turning Normal and the first restore.
// Pods take a while to stop and start, and usage metrics a while to show it.
const DefaultScaleCooldown = 5 * time.Minute

// WorkloadInput is one GenAIWorkload under the quota.
type WorkloadInput struct {
	Name string
	// Criticality is spec.criticality ("" is standard).
	Criticality breakwaterv1alpha1.Criticality
	// Replicas is the workload's current replica count.
	Replicas int32
	// Remembered is status.rememberedReplicas: set while the workload is shed by Breakwater.
	Remembered *int32
	// MinReplicas is spec.shedding.minReplicas, the floor a shed workload is scaled to.
	MinReplicas int32
	// LastAction is when Breakwater last scaled the workload (zero: never).
	LastAction time.Time
}

// ScaleInput is everything Scale needs.
type ScaleInput struct {
	Now time.Time
	// State is the quota's state (QuotaPlan.State) and StateSince when it was entered
	// (QuotaPlan.Since; zero: long ago).
	State      breakwaterv1alpha1.QuotaState
	StateSince time.Time
	// Cooldown overrides DefaultScaleCooldown.
	Cooldown time.Duration
	// RecentSheds is status.recentSheds: when the quota's recent shed cycles started. The first
	// restore waits the cooldown doubled per earlier one (RestoreWait).
	RecentSheds []time.Time
	// MetricsUnavailable is set when the quota's state is only held (QuotaPlan.Reason is
	// breakwaterv1alpha1.ReasonMetricsUnavailable): nobody is shed or restored on a state that was not measured.
	MetricsUnavailable bool
	// Shadow is spec.mode == shadow on the TokenQuota.
	Shadow    bool
	Workloads []WorkloadInput
}

// ScaleAction scales one workload.
type ScaleAction struct {
	Workload    string
	Criticality breakwaterv1alpha1.Criticality
	From, To    int32
	// Restore is true when the workload goes back to its remembered replicas; Remember is then nil
	// and the remembered count is to be cleared. When shedding, Remember is the count to keep in
	// the annotation and status before scaling.
	Restore  bool
	Remember *int32
	Reason   string
	Message  string
}

// ScalePlan lists the scale actions due now.
type ScalePlan struct {
	Actions []ScaleAction
	// Apply is false in shadow mode: actions are recorded, not carried out.
	Apply bool
	// Shed are the workloads shed once the actions are applied (for status.shedWorkloads), sorted.
	Shed []string
	// RecentSheds is the new status.recentSheds: the input's, with Now added when this plan starts
	// a shed cycle (it sheds while no workload was shed) and is applied.
	RecentSheds []time.Time
	Reason      string
	Message     string
}

// Scale decides which workloads to shed or restore for the quota's state.
func Scale(in ScaleInput) ScalePlan {
	if in.Cooldown <= 0 {
		in.Cooldown = DefaultScaleCooldown
	}
	s := scaler{in: in, ws: slices.Clone(in.Workloads), restoreWait: max(in.Cooldown, RestoreWait(in.RecentSheds, in.Now, in.Cooldown))}
	slices.SortFunc(s.ws, func(a, b WorkloadInput) int { return strings.Compare(a.Name, b.Name) })

	// A shed workload that became critical is restored whatever the state: critical ones are
	// never kept down.
	s.restoreClass(breakwaterv1alpha1.CriticalityCritical, breakwaterv1alpha1.ReasonCriticalRestored, "it is now critical")

	if in.MetricsUnavailable {
		if len(s.actions) > 0 {
			return s.plan(breakwaterv1alpha1.ReasonCriticalRestored, s.summary())
		}
		return s.plan(breakwaterv1alpha1.ReasonMetricsUnavailable, "Quota usage could not be measured; no workload is shed or restored until it can.")
	}

	age := in.Now.Sub(in.StateSince)
	if in.StateSince.IsZero() {
		age = in.Cooldown
	}
	wait := ""
	switch in.State {
	case breakwaterv1alpha1.QuotaExhausted:
		s.shedClass(breakwaterv1alpha1.CriticalitySheddable, breakwaterv1alpha1.ReasonShedForExhaustedQuota)
		s.shedClass(breakwaterv1alpha1.CriticalityStandard, breakwaterv1alpha1.ReasonShedForExhaustedQuota)
	case breakwaterv1alpha1.QuotaShedding:
		s.shedClass(breakwaterv1alpha1.CriticalitySheddable, breakwaterv1alpha1.ReasonShedForQuota)
		// Standard workloads go only once every sheddable one is down and has been for a cooldown,
		// and the quota has been Shedding for a cooldown: the first step may have been enough.
		if s.needShed(breakwaterv1alpha1.CriticalityStandard) {
			if s.needShed(breakwaterv1alpha1.CriticalitySheddable) || !s.settled(breakwaterv1alpha1.CriticalitySheddable) || age < in.Cooldown {
				wait = fmt.Sprintf("Standard workloads are shed if the quota is still Shedding %s after the sheddable ones.", in.Cooldown)
			} else {
				s.shedClass(breakwaterv1alpha1.CriticalityStandard, breakwaterv1alpha1.ReasonShedForQuota)
			}
		}
	case breakwaterv1alpha1.QuotaWarning:
		if len(s.shed()) == 0 {
			return s.plan(breakwaterv1alpha1.ReasonClampOnly, "The quota is in Warning: output tokens are clamped and no workload is scaled.")
		}
		wait = "The quota is in Warning: shed workloads stay shed until it is Normal."
	default: // Normal
		switch {
		case len(s.shed()) == 0:
		case age < s.restoreWait:
			wait = fmt.Sprintf("Shed workloads are restored once the quota has been Normal for %s.", s.restoreWait)
			if s.restoreWait > in.Cooldown {
				wait += " The wait is doubled for each shed cycle of the last 24 hours, so that demand that comes back with the workloads does not flap them."
			}
		default:
			why := fmt.Sprintf("the quota has been Normal for at least %s", s.restoreWait)
			// Reverse order of shedding: standard first, sheddable after a further cooldown.
			s.restoreClass(breakwaterv1alpha1.CriticalityStandard, breakwaterv1alpha1.ReasonRestored, why)
			if !s.isShed(breakwaterv1alpha1.CriticalityStandard) && s.settled(breakwaterv1alpha1.CriticalityStandard) {
				s.restoreClass(breakwaterv1alpha1.CriticalitySheddable, breakwaterv1alpha1.ReasonRestored, why)
			}
		}
	}

	switch {
	case len(s.actions) > 0:
		return s.plan(s.actions[0].Reason, s.summary())
	case wait != "" || (len(s.shed()) > 0 && in.State == breakwaterv1alpha1.QuotaNormal):
		if wait == "" {
			wait = "Shed workloads are restored one cooldown apart, standard before sheddable."
		}
		reason := breakwaterv1alpha1.ReasonShedPending
		if in.State == breakwaterv1alpha1.QuotaNormal || in.State == "" || in.State == breakwaterv1alpha1.QuotaWarning {
			reason = breakwaterv1alpha1.ReasonRestorePending
		}
		return s.plan(reason, wait)
	default:
		return s.plan(breakwaterv1alpha1.ReasonSteady, fmt.Sprintf("No workload to scale (quota %s).", stateName(in.State)))
	}
}

type scaler struct {
	in          ScaleInput
	ws          []WorkloadInput
	actions     []ScaleAction
	restoreWait time.Duration // how long the quota must be Normal before the first restore
}

func class(w WorkloadInput) breakwaterv1alpha1.Criticality {
	if w.Criticality == "" {
		return breakwaterv1alpha1.CriticalityStandard
	}
	return w.Criticality
}

func stateName(s breakwaterv1alpha1.QuotaState) breakwaterv1alpha1.QuotaState {
	if s == "" {
		return breakwaterv1alpha1.QuotaNormal
	}
	return s
}

// ready says the workload's last action is at least a cooldown old.
func (s *scaler) ready(w WorkloadInput) bool {
	return w.LastAction.IsZero() || s.in.Now.Sub(w.LastAction) >= s.in.Cooldown
}

// settled says no workload of the class was acted on within the cooldown.
func (s *scaler) settled(c breakwaterv1alpha1.Criticality) bool {
	for _, w := range s.ws {
		if class(w) == c && !s.ready(w) {
			return false
		}
	}
	return true
}

// needShed says a workload of the class still runs above its floor and is not shed.
func (s *scaler) needShed(c breakwaterv1alpha1.Criticality) bool {
	for _, w := range s.ws {
		if class(w) == c && w.Remembered == nil && w.Replicas > max(w.MinReplicas, 0) {
			return true
		}
	}
	return false
}

func (s *scaler) isShed(c breakwaterv1alpha1.Criticality) bool {
	for _, w := range s.ws {
		if class(w) == c && w.Remembered != nil {
			return true
		}
	}
	return false
}

func (s *scaler) shed() []string {
	var names []string
	for _, w := range s.ws {
		if w.Remembered != nil {
			names = append(names, w.Name)
		}
	}
	return names
}

// shedClass scales every ready workload of the class above its floor down to the floor,
// remembering its replicas. A workload already shed is left alone: its remembered count is the
// one to restore, and scaling it again would fight whoever scaled it up (see docs/gitops.md).
func (s *scaler) shedClass(c breakwaterv1alpha1.Criticality, reason string) {
	if c == breakwaterv1alpha1.CriticalityCritical {
		return // never, whatever the caller asks
	}
	for i, w := range s.ws {
		floor := max(w.MinReplicas, 0)
		if class(w) != c || w.Remembered != nil || w.Replicas <= floor || !s.ready(w) {
			continue
		}
		remember := w.Replicas
		s.act(i, ScaleAction{
			Workload: w.Name, Criticality: c, From: w.Replicas, To: floor, Remember: &remember, Reason: reason,
			Message: fmt.Sprintf("Scaled %s from %d to %d replicas (its floor) because the quota is %s; %d replicas remembered.",
				w.Name, w.Replicas, floor, stateName(s.in.State), remember),
		})
	}
}

// restoreClass scales every ready shed workload of the class back to its remembered replicas (or
// leaves a higher count that someone else set) and forgets them.
func (s *scaler) restoreClass(c breakwaterv1alpha1.Criticality, reason, why string) {
	for i, w := range s.ws {
		if class(w) != c || w.Remembered == nil || !s.ready(w) {
			continue
		}
		to := max(*w.Remembered, w.Replicas)
		s.act(i, ScaleAction{
			Workload: w.Name, Criticality: c, From: w.Replicas, To: to, Restore: true, Reason: reason,
			Message: fmt.Sprintf("Restored %s from %d to %d replicas because %s.", w.Name, w.Replicas, to, why),
		})
	}
}

// act records an action and applies it to the scaler's copy, so later steps of the same
// evaluation see the result (and never act twice on one workload).
func (s *scaler) act(i int, a ScaleAction) {
	s.actions = append(s.actions, a)
	w := &s.ws[i]
	w.Replicas, w.Remembered, w.LastAction = a.To, a.Remember, s.in.Now
}

// summary lists the actions in one sentence, e.g. "Scaled batch 6→0, reports 2→1 (quota Shedding)."
func (s *scaler) summary() string {
	var parts []string
	for _, a := range s.actions {
		parts = append(parts, fmt.Sprintf("%s %d→%d", a.Workload, a.From, a.To))
	}
	msg := fmt.Sprintf("Scaled %s (quota %s).", strings.Join(parts, ", "), stateName(s.in.State))
	if s.in.Shadow {
		msg += " Shadow mode: not applied."
	}
	return msg
}

func (s *scaler) plan(reason, msg string) ScalePlan {
	p := ScalePlan{Actions: s.actions, Apply: len(s.actions) > 0 && !s.in.Shadow, Shed: s.shed(), Reason: reason, Message: msg}
	shedBefore := slices.ContainsFunc(s.in.Workloads, func(w WorkloadInput) bool { return w.Remembered != nil })
	sheds := slices.ContainsFunc(s.actions, func(a ScaleAction) bool { return !a.Restore })
	p.RecentSheds = RecordShedCycle(s.in.RecentSheds, s.in.Now, p.Apply && sheds && !shedBefore)
	return p
}
