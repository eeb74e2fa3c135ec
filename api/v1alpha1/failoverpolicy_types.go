package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FailoverPolicySpec says when and how to shift a ModelEndpoint's traffic between its targets, and
// how to fail back.
type FailoverPolicySpec struct {
	// endpointRef names the ModelEndpoint in this namespace whose weights this policy steers.
	// +required
	EndpointRef LocalObjectReference `json:"endpointRef"`

	// targets are the endpoint's target names this policy moves traffic between, most preferred
	// first; at least two.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:XValidation:rule="self.all(t, self.indexOf(t) == self.lastIndexOf(t))",message="targets must name each target once"
	// +kubebuilder:validation:MinItems=2
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Targets []string `json:"targets"`

	// triggers shift traffic away from a target when any of them fires.
	// +required
	Triggers FailoverTriggers `json:"triggers"`

	// shift says how far and how fast traffic moves once a trigger fires.
	// +optional
	// +kubebuilder:default={}
	Shift ShiftPolicy `json:"shift,omitzero"`

	// failback says how traffic returns to a preferred target once it is healthy again.
	// +optional
	// +kubebuilder:default={}
	Failback FailbackPolicy `json:"failback,omitzero"`

	// requireValidatedTargets keeps traffic off targets that are not confirmed to serve the model
	// (and its streaming mode) in their region. Default: true.
	// +optional
	// +kubebuilder:default=true
	RequireValidatedTargets *bool `json:"requireValidatedTargets,omitempty"`

	// mode is enforce (shift weights) or shadow (record what would be shifted, and do nothing).
	// Default: enforce.
	// +optional
	// +kubebuilder:default=enforce
	Mode Mode `json:"mode,omitempty"`
}

// FailoverTriggers fire per target over a rolling window; set at least one.
// +kubebuilder:validation:XValidation:rule="has(self.errorRatePercent) || has(self.throttleRatePercent) || has(self.p99Latency) || has(self.quotaPercent)",message="set at least one trigger: errorRatePercent, throttleRatePercent, p99Latency or quotaPercent"
type FailoverTriggers struct {
	// errorRatePercent fires when this percentage of a target's requests failed in the window.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	ErrorRatePercent *int32 `json:"errorRatePercent,omitempty"`

	// throttleRatePercent fires when the provider throttled this percentage of a target's calls in
	// the window.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	ThrottleRatePercent *int32 `json:"throttleRatePercent,omitempty"`

	// p99Latency fires when a target's 99th percentile latency over the window exceeds it.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="p99Latency must be a positive duration such as 8s"
	P99Latency *metav1.Duration `json:"p99Latency,omitempty"`

	// quotaPercent fires when a target's usage reaches this percentage of its tokens-per-minute
	// quota.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	QuotaPercent *int32 `json:"quotaPercent,omitempty"`

	// window is the rolling period each trigger is measured over. Default: 2m.
	// +optional
	// +kubebuilder:default="2m"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('10s')",message="window must be at least 10s, so a trigger sees more than one scrape"
	Window metav1.Duration `json:"window,omitzero"`

	// minRequests is how many requests a target needs in the window before its rates count.
	// Default: 20.
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	MinRequests int32 `json:"minRequests,omitempty"`
}

// ShiftPolicy says how traffic moves away from a failing target.
type ShiftPolicy struct {
	// stepPercent is how many percentage points of weight move per shift. 100 moves everything at
	// once. Default: 50.
	// +optional
	// +kubebuilder:default=50
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	StepPercent int32 `json:"stepPercent,omitempty"`

	// cooldown is the least time between two shifts of this endpoint. Default: 1m.
	// +optional
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="cooldown must be a positive duration such as 1m"
	Cooldown metav1.Duration `json:"cooldown,omitzero"`
}

// FailbackPolicy says how traffic returns to a preferred target.
type FailbackPolicy struct {
	// enabled turns failback on. Default: true.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`

	// stablePeriod is how long a target must stay healthy before traffic returns to it.
	// Default: 5m.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="stablePeriod must be a positive duration such as 5m"
	StablePeriod metav1.Duration `json:"stablePeriod,omitzero"`

	// stepPercent is how many percentage points of weight return per step; steps are a shift
	// cooldown apart. Default: 25.
	// +optional
	// +kubebuilder:default=25
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	StepPercent int32 `json:"stepPercent,omitempty"`
}

// FailoverPolicyStatus is what the manager observed and decided.
type FailoverPolicyStatus struct {
	// conditions: Ready (endpoint and targets resolved), FailedOver (traffic is away from the most
	// preferred target), MetricsAvailable.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation of the spec this status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// activeTarget is the target with the largest current weight.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	ActiveTarget string `json:"activeTarget,omitempty"`

	// weights are the current weights per target; they sum to 100.
	// +optional
	// +listType=map
	// +listMapKey=target
	// +kubebuilder:validation:MaxItems=16
	Weights []TargetWeight `json:"weights,omitempty"`

	// lastShift is the most recent change of weights.
	// +optional
	LastShift *WeightShift `json:"lastShift,omitempty"`

	// failedFailbacks counts the failback steps in a row that a trigger on the target failed back
	// to undid. Each doubles the stable period the next failback step waits for (up to 32 times
	// spec.failback.stablePeriod); it returns to 0 once the weights are home again.
	// +optional
	// +kubebuilder:validation:Minimum=0
	FailedFailbacks int32 `json:"failedFailbacks,omitempty"`
}

// TargetWeight is one target's current weight.
type TargetWeight struct {
	// target is the target's name.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Target string `json:"target"`

	// weight is the target's share of traffic, 0–100.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Weight int32 `json:"weight"`
}

// WeightShift records one change of weights.
type WeightShift struct {
	// time of the shift.
	// +required
	Time metav1.Time `json:"time"`

	// reason is the CamelCase reason, e.g. ThrottleRateHigh or Failback.
	// +required
	// +kubebuilder:validation:MaxLength=128
	Reason string `json:"reason"`

	// message says what was observed, for people.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// from is the target traffic moved away from.
	// +required
	// +kubebuilder:validation:MaxLength=63
	From string `json:"from"`

	// to is the target traffic moved to.
	// +required
	// +kubebuilder:validation:MaxLength=63
	To string `json:"to"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fp,categories=breakwater
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.spec.endpointRef.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Active Target",type=string,JSONPath=`.status.activeTarget`
// +kubebuilder:printcolumn:name="Last Shift",type=string,JSONPath=`.status.lastShift.reason`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// FailoverPolicy says when and how to shift a ModelEndpoint's traffic between regions or targets,
// and how to fail back once the preferred target is healthy again.
type FailoverPolicy struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired policy.
	// +required
	Spec FailoverPolicySpec `json:"spec"`

	// status is what the manager observed and decided.
	// +optional
	Status FailoverPolicyStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// FailoverPolicyList is a list of FailoverPolicies.
type FailoverPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FailoverPolicy `json:"items"`
}
