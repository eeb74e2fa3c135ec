// Package managermetrics defines the Prometheus metrics of the manager's control loops in one
// place: the decisions and actions of the TokenQuota and FailoverPolicy loops, the quotas' usage
// and state, the weights in force, how long an evaluation takes and how often a metric or limit
// source fails. docs/manager.md lists them with example alerts; keep the two in step.
//
// The manager registers them once with controller-runtime's registry (Default), so its metrics
// endpoint serves them beside controller-runtime's own. Tests create their own with New and
// register them with a registry of their own.
//
// Labels have bounded values: loop, decision, reason, action, result, limit and source come from
// fixed lists (the policy package's reasons, the quota states); namespace, tokenquota,
// failoverpolicy and target name objects and targets of the cluster. The series of one object are
// deleted when the object is (ForgetQuota, ForgetPolicy), so deleted objects leave nothing behind.
//
// Every method is safe on a nil *Metrics and does nothing, so a loop built without metrics needs
// no checks.
package managermetrics

import (
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Loop label values.
const (
	LoopTokenQuota = "tokenquota"
	LoopFailover   = "failover"
)

// Decision label values of the failover loop; the TokenQuota loop's decision is the quota state
// chosen (Normal, Warning, Shedding, Exhausted).
const (
	DecisionShift    = "shift"
	DecisionHold     = "hold"
	DecisionFailback = "failback"
)

// Action label values.
const (
	// ActionScaleDown: a workload scaled down to its floor (shed), its replicas remembered.
	ActionScaleDown = "scale_down"
	// ActionScaleUp: a shed workload restored to its remembered replicas.
	ActionScaleUp = "scale_up"
	// ActionShiftWeights: a FailoverPolicy moved weight between targets (shift or failback step).
	ActionShiftWeights = "shift_weights"
	// ActionClampOutput: a quota started handing an output-token clamp (or a new clamp) to the
	// guards, on entering Warning or a higher state.
	ActionClampOutput = "clamp_output"
)

// Result label values.
const (
	ResultApplied = "applied"
	ResultShadow  = "shadow"
	ResultFailed  = "failed"
)

// Limit label values of QuotaUsageRatio.
const (
	LimitTokensPerMinute = "tokens_per_minute"
	LimitTokensPerDay    = "tokens_per_day"
	LimitCostPerDay      = "cost_per_day"
)

// Source label values of SourceErrors.
const (
	SourcePrometheus    = "prometheus"
	SourceServiceQuotas = "servicequotas"
	SourceCloudWatch    = "cloudwatch"
	SourceBedrock       = "bedrock"
)

// Metrics holds the collectors. Create it with New.
type Metrics struct {
	Decisions          *prometheus.CounterVec
	Actions            *prometheus.CounterVec
	QuotaUsageRatio    *prometheus.GaugeVec
	QuotaState         *prometheus.GaugeVec
	WorkloadsShed      *prometheus.GaugeVec
	TargetWeight       *prometheus.GaugeVec
	EvaluationDuration *prometheus.HistogramVec
	SourceErrors       *prometheus.CounterVec

	mu sync.Mutex
	// targets are the targets last given a weight per FailoverPolicy, so that a target the policy
	// no longer names loses its series.
	targets map[objectKey][]string
}

type objectKey struct{ namespace, name string }

// New creates the collectors without registering them.
func New() *Metrics {
	m := &Metrics{
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breakwater_manager_decisions_total",
			Help: "Decisions of the control loops, one per evaluation. loop: tokenquota or failover. decision: for tokenquota " +
				"the quota state chosen (Normal, Warning, Shedding, Exhausted); for failover shift, failback or hold. " +
				"reason: the plan's reason (e.g. WarnThresholdReached, Recovering, MetricsUnavailable, ThrottleRateHigh, Cooldown, Steady).",
		}, []string{"loop", "decision", "reason"}),
		Actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breakwater_manager_actions_total",
			Help: "Actions of the control loops. action: scale_down (a workload shed to its floor), scale_up (a shed workload " +
				"restored), shift_weights (a FailoverPolicy moved weight), clamp_output (a quota handed a new output-token clamp to " +
				"the guards). reason: the plan's reason. result: applied, shadow (decided in shadow mode, not carried out) or failed.",
		}, []string{"action", "reason", "result"}),
		QuotaUsageRatio: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "breakwater_manager_quota_usage_ratio",
			Help: "Measured usage of a TokenQuota divided by its limit (1 is the limit; not the projection). limit: " +
				"tokens_per_minute, tokens_per_day or cost_per_day. A limit whose usage could not be measured has no series.",
		}, []string{"namespace", "tokenquota", "limit"}),
		QuotaState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "breakwater_manager_quota_state",
			Help: "State of a TokenQuota: 0 Normal, 1 Warning, 2 Shedding, 3 Exhausted.",
		}, []string{"namespace", "tokenquota"}),
		WorkloadsShed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "breakwater_manager_workloads_shed",
			Help: "GenAIWorkloads a TokenQuota currently holds scaled below their remembered replicas (status.shedWorkloads).",
		}, []string{"namespace", "tokenquota"}),
		TargetWeight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "breakwater_manager_target_weight",
			Help: "Current weight (0-100) of a target of the ModelEndpoint a FailoverPolicy steers (status.weights).",
		}, []string{"namespace", "failoverpolicy", "target"}),
		EvaluationDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "breakwater_manager_evaluation_duration_seconds",
			Help: "Time one evaluation of a control loop took, metric queries and API writes included. loop: tokenquota or failover.",
			// From a few milliseconds (cached sources) to the query timeout (10s by default) and beyond.
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"loop"}),
		SourceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breakwater_manager_source_errors_total",
			Help: "Failed reads of a metric or limit source by the control loops. source: prometheus, servicequotas, cloudwatch or bedrock.",
		}, []string{"source"}),
		targets: map[objectKey][]string{},
	}
	// The sources are few and known: start every error series at zero, so that rate() and
	// increase() see the first error.
	for _, s := range []string{SourcePrometheus, SourceServiceQuotas, SourceCloudWatch, SourceBedrock} {
		m.SourceErrors.WithLabelValues(s)
	}
	return m
}

// Collectors lists every collector, for registering.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Decisions, m.Actions, m.QuotaUsageRatio, m.QuotaState, m.WorkloadsShed,
		m.TargetWeight, m.EvaluationDuration, m.SourceErrors}
}

// Register registers every collector with reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	for _, c := range m.Collectors() {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

var (
	defaultOnce    sync.Once
	defaultMetrics *Metrics
	errDefault     error
)

// Default returns the manager's metrics, registered with controller-runtime's registry (served on
// the manager's metrics endpoint) on the first call.
func Default() (*Metrics, error) {
	defaultOnce.Do(func() {
		defaultMetrics = New()
		errDefault = defaultMetrics.Register(ctrlmetrics.Registry)
	})
	return defaultMetrics, errDefault
}

// Decision counts one decision of a loop.
func (m *Metrics) Decision(loop, decision, reason string) {
	if m == nil {
		return
	}
	m.Decisions.WithLabelValues(loop, decision, reason).Inc()
}

// Action counts one action.
func (m *Metrics) Action(action, reason, result string) {
	if m == nil {
		return
	}
	m.Actions.WithLabelValues(action, reason, result).Inc()
}

// SourceError counts one failed read of source.
func (m *Metrics) SourceError(source string) {
	if m == nil {
		return
	}
	m.SourceErrors.WithLabelValues(source).Inc()
}

// ObserveEvaluation records how long an evaluation of loop took since start.
func (m *Metrics) ObserveEvaluation(loop string, start time.Time) {
	if m == nil {
		return
	}
	m.EvaluationDuration.WithLabelValues(loop).Observe(time.Since(start).Seconds())
}

// QuotaFigures are what one TokenQuota evaluation leaves in the gauges.
type QuotaFigures struct {
	// State is 0 Normal, 1 Warning, 2 Shedding, 3 Exhausted.
	State int
	// Ratios are usage over limit per limit label value; a limit missing from the map (not set,
	// or not measured) has its series removed.
	Ratios map[string]float64
	// Shed is how many workloads the quota holds shed.
	Shed int
}

// SetQuota sets the gauges of one TokenQuota.
func (m *Metrics) SetQuota(namespace, name string, f QuotaFigures) {
	if m == nil {
		return
	}
	m.QuotaState.WithLabelValues(namespace, name).Set(float64(f.State))
	m.WorkloadsShed.WithLabelValues(namespace, name).Set(float64(f.Shed))
	for _, l := range []string{LimitTokensPerMinute, LimitTokensPerDay, LimitCostPerDay} {
		if r, ok := f.Ratios[l]; ok {
			m.QuotaUsageRatio.WithLabelValues(namespace, name, l).Set(r)
		} else {
			m.QuotaUsageRatio.DeleteLabelValues(namespace, name, l)
		}
	}
}

// ForgetQuota deletes every series of a TokenQuota that no longer exists.
func (m *Metrics) ForgetQuota(namespace, name string) {
	if m == nil {
		return
	}
	labels := prometheus.Labels{"namespace": namespace, "tokenquota": name}
	m.QuotaState.DeletePartialMatch(labels)
	m.WorkloadsShed.DeletePartialMatch(labels)
	m.QuotaUsageRatio.DeletePartialMatch(labels)
}

// SetWeights sets the weight of every target of a FailoverPolicy; targets it no longer has lose
// their series.
func (m *Metrics) SetWeights(namespace, name string, weights map[string]int32) {
	if m == nil {
		return
	}
	key := objectKey{namespace, name}
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(weights))
	for target, w := range weights {
		m.TargetWeight.WithLabelValues(namespace, name, target).Set(float64(w))
		names = append(names, target)
	}
	for _, old := range m.targets[key] {
		if _, ok := weights[old]; !ok {
			m.TargetWeight.DeleteLabelValues(namespace, name, old)
		}
	}
	slices.Sort(names)
	m.targets[key] = names
}

// ForgetPolicy deletes every series of a FailoverPolicy that no longer exists.
func (m *Metrics) ForgetPolicy(namespace, name string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.targets, objectKey{namespace, name})
	m.TargetWeight.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "failoverpolicy": name})
}
