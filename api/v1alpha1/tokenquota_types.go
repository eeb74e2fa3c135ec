package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// QuotaState is where a TokenQuota stands against its limits.
// +kubebuilder:validation:Enum=Normal;Warning;Shedding;Exhausted
type QuotaState string

const (
	// QuotaNormal means usage is below thresholds.warnPercent.
	QuotaNormal QuotaState = "Normal"
	// QuotaWarning means usage (or projected usage) passed warnPercent; output tokens are clamped lower.
	QuotaWarning QuotaState = "Warning"
	// QuotaShedding means usage passed shedPercent; sheddable, then standard workloads are refused and
	// scaled down.
	QuotaShedding QuotaState = "Shedding"
	// QuotaExhausted means usage reached hardPercent; only critical workloads are served.
	QuotaExhausted QuotaState = "Exhausted"
)

// TokenQuotaSpec declares a token and cost budget over some ModelEndpoints.
// +kubebuilder:validation:XValidation:rule="has(self.serviceQuota) || has(self.limits.tokensPerMinute) || has(self.limits.requestsPerMinute) || has(self.limits.tokensPerDay) || has(self.limits.costPerDay)",message="set at least one limit: limits.tokensPerMinute, limits.requestsPerMinute, limits.tokensPerDay, limits.costPerDay or serviceQuota"
// +kubebuilder:validation:XValidation:rule="!has(self.serviceQuota) || !has(self.limits.tokensPerMinute)",message="serviceQuota provides the tokens-per-minute limit; remove limits.tokensPerMinute or serviceQuota"
type TokenQuotaSpec struct {
	// endpoints are the ModelEndpoints (in this namespace) whose usage counts against this quota.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Endpoints []LocalObjectReference `json:"endpoints"`

	// limits are static limits; set at least one of them, or serviceQuota.
	// +optional
	// +kubebuilder:default={}
	Limits QuotaLimits `json:"limits,omitzero"`

	// serviceQuota reads the tokens-per-minute limit from AWS Service Quotas (for example a Bedrock
	// model's on-demand tokens-per-minute quota), so the limit follows what AWS grants the account.
	// +optional
	ServiceQuota *ServiceQuotaSource `json:"serviceQuota,omitempty"`

	// thresholds are percentages of the limit at which the quota changes state.
	// +optional
	// +kubebuilder:default={}
	Thresholds QuotaThresholds `json:"thresholds,omitzero"`

	// mode is enforce (act on the state) or shadow (record the state and what would be done, and do
	// nothing). Default: enforce.
	// +optional
	// +kubebuilder:default=enforce
	Mode Mode `json:"mode,omitempty"`

	// admission is how the per-minute limits are enforced at each request, by every guard of every
	// workload the quota covers (docs/tokenquota.md, "Admission at the request").
	// +optional
	// +kubebuilder:default={}
	Admission QuotaAdmission `json:"admission,omitzero"`
}

// Enforcement is where a TokenQuota's per-minute limits are enforced at the request.
// +kubebuilder:validation:Enum=shared;local;off
type Enforcement string

const (
	// EnforcementShared reserves every request against one budget in the admission store, shared
	// by every guard; while the store is unavailable each guard enforces its local share.
	EnforcementShared Enforcement = "shared"
	// EnforcementLocal has each guard enforce its share of the limits (limit / guards) on its own.
	EnforcementLocal Enforcement = "local"
	// EnforcementOff enforces nothing at the request: only the control loop acts.
	EnforcementOff Enforcement = "off"
)

// QuotaAdmission is per-request enforcement of tokensPerMinute and requestsPerMinute.
type QuotaAdmission struct {
	// enforcement: shared (the default when the manager has an admission store), local (each guard
	// on its share of the limits) or off (the default without a store: only the control loop acts).
	// +optional
	Enforcement Enforcement `json:"enforcement,omitempty"`

	// criticalReservePercent is the share of the limits kept for critical workloads: standard and
	// sheddable requests may not use the part of it critical traffic has not used in the last
	// minute. Default: 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=50
	CriticalReservePercent int32 `json:"criticalReservePercent,omitempty"`
}

// QuotaLimits are static limits. Usage is the sum over all the quota's endpoints.
type QuotaLimits struct {
	// tokensPerMinute limits input plus output tokens per minute.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000000000
	TokensPerMinute *int64 `json:"tokensPerMinute,omitempty"`

	// requestsPerMinute limits model requests per minute (Bedrock's requests-per-minute quotas).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000000
	RequestsPerMinute *int64 `json:"requestsPerMinute,omitempty"`

	// tokensPerDay limits input plus output tokens per UTC day.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000000000000
	TokensPerDay *int64 `json:"tokensPerDay,omitempty"`

	// costPerDay limits spending per UTC day, in US dollars, from the targets' prices, e.g. "250".
	// +optional
	CostPerDay *Money `json:"costPerDay,omitempty"`
}

// ServiceQuotaSource names an AWS Service Quotas quota whose value is a tokens-per-minute limit.
type ServiceQuotaSource struct {
	// serviceCode is the Service Quotas service code, e.g. bedrock.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-zA-Z][a-zA-Z0-9-]*$`
	ServiceCode string `json:"serviceCode"`

	// quotaCode is the quota's code, e.g. L-FF1DB5E1.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^L-[A-Z0-9]+$`
	QuotaCode string `json:"quotaCode"`

	// region is the AWS region whose quota is read, e.g. us-east-1.
	// +required
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[a-z]{2}(-[a-z]+)+-[0-9]+$`
	Region string `json:"region"`

	// refreshInterval is how often the quota is read again. Default: 1h.
	// +optional
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1m')",message="refreshInterval must be at least 1m"
	RefreshInterval metav1.Duration `json:"refreshInterval,omitzero"`
}

// QuotaThresholds are percentages of a limit, ordered warn < shed <= hard.
// +kubebuilder:validation:XValidation:rule="!has(self.warnPercent) || !has(self.shedPercent) || !has(self.hardPercent) || (self.warnPercent < self.shedPercent && self.shedPercent <= self.hardPercent)",message="thresholds must be ordered warnPercent < shedPercent <= hardPercent"
type QuotaThresholds struct {
	// warnPercent moves the quota to Warning: output tokens are clamped lower. Default: 80.
	// +optional
	// +kubebuilder:default=80
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	WarnPercent int32 `json:"warnPercent,omitempty"`

	// shedPercent moves the quota to Shedding: sheddable, then standard workloads are refused and
	// scaled down. Default: 90.
	// +optional
	// +kubebuilder:default=90
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	ShedPercent int32 `json:"shedPercent,omitempty"`

	// hardPercent moves the quota to Exhausted: only critical workloads are served. Default: 100.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	HardPercent int32 `json:"hardPercent,omitempty"`
}

// TokenQuotaStatus is what the manager observed of a TokenQuota.
type TokenQuotaStatus struct {
	// conditions: Ready (limits resolved and usage measured), LimitResolved, MetricsAvailable.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation of the spec this status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// state is Normal, Warning, Shedding or Exhausted.
	// +optional
	State QuotaState `json:"state,omitempty"`

	// usedPercent is the highest usage among the limits, as a percentage of that limit in a decimal
	// string, e.g. "73.5".
	// +optional
	// +kubebuilder:validation:MaxLength=32
	UsedPercent string `json:"usedPercent,omitempty"`

	// limit is the limit usedPercent refers to, for people, e.g. "400000 tokens/min".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Limit string `json:"limit,omitempty"`

	// effectiveTokensPerMinute is the tokens-per-minute limit in force (static or from Service
	// Quotas).
	// +optional
	EffectiveTokensPerMinute *int64 `json:"effectiveTokensPerMinute,omitempty"`

	// usage is the measured usage.
	// +optional
	Usage *QuotaUsage `json:"usage,omitempty"`

	// shedWorkloads are the GenAIWorkloads this quota currently sheds.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=1024
	// +kubebuilder:validation:items:MaxLength=253
	ShedWorkloads []string `json:"shedWorkloads,omitempty"`

	// lastTransitionTime is when state last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`

	// recentSheds are when this quota started shedding workloads (from none shed), the newest 8
	// of the last 24 hours. Each earlier one doubles the time the quota must be Normal before shed
	// workloads are restored (up to 32 cooldowns; back to one cooldown after 6 hours without a
	// shed), so that demand returning with the workloads does not shed and restore them once per
	// cooldown.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	RecentSheds []metav1.Time `json:"recentSheds,omitempty"`

	// admission is the state of per-request enforcement.
	// +optional
	Admission *QuotaAdmissionStatus `json:"admission,omitempty"`
}

// QuotaAdmissionStatus is what the guards enforce at the request, as the manager last read it.
type QuotaAdmissionStatus struct {
	// enforcement in force: shared, local or off.
	// +optional
	Enforcement Enforcement `json:"enforcement,omitempty"`

	// guards is how many guards the quota covers (the injected pods of its workloads): each
	// guard's local share is the limit divided by it.
	// +optional
	Guards int32 `json:"guards,omitempty"`

	// learnedPercent is the share of the configured limits the guards admit up to, e.g. "51.0":
	// below 100 after the provider throttled requests the quota admitted (the account's quota is
	// used outside the cluster too), climbing back by 3 points a minute.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	LearnedPercent string `json:"learnedPercent,omitempty"`

	// learnedTokensPerMinute and learnedRequestsPerMinute are the limits in force at the request:
	// the configured ones times learnedPercent.
	// +optional
	LearnedTokensPerMinute *int64 `json:"learnedTokensPerMinute,omitempty"`
	// +optional
	LearnedRequestsPerMinute *int64 `json:"learnedRequestsPerMinute,omitempty"`

	// windowTokens and windowRequests are what the shared budget holds for the last 60 seconds
	// (reservations and settled usage).
	// +optional
	WindowTokens *int64 `json:"windowTokens,omitempty"`
	// +optional
	WindowRequests *int64 `json:"windowRequests,omitempty"`

	// updatedAt is when the manager read the store.
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty"`
}

// QuotaUsage is measured usage across the quota's endpoints.
type QuotaUsage struct {
	// tokensPerMinute is the current rate of input plus output tokens.
	// +optional
	TokensPerMinute *int64 `json:"tokensPerMinute,omitempty"`

	// tokensToday is input plus output tokens since 00:00 UTC.
	// +optional
	TokensToday *int64 `json:"tokensToday,omitempty"`

	// costToday is what those tokens cost, in US dollars.
	// +optional
	CostToday *Money `json:"costToday,omitempty"`

	// updatedAt is when usage was measured.
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tq,categories=breakwater
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Used%",type=string,JSONPath=`.status.usedPercent`
// +kubebuilder:printcolumn:name="Limit",type=string,JSONPath=`.status.limit`
// +kubebuilder:printcolumn:name="Learned%",type=string,JSONPath=`.status.admission.learnedPercent`,priority=1
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// TokenQuota is a token and cost budget over some ModelEndpoints, with thresholds at which
// Breakwater clamps output, sheds sheddable and standard workloads, and serves only critical ones.
type TokenQuota struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired quota.
	// +required
	Spec TokenQuotaSpec `json:"spec"`

	// status is what the manager observed.
	// +optional
	Status TokenQuotaStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// TokenQuotaList is a list of TokenQuotas.
type TokenQuotaList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TokenQuota `json:"items"`
}
