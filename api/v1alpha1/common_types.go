package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Money is an amount of US dollars as a decimal string, for example "0.003". It is a string so that
// prices and budgets are never rounded by a float on their way through YAML, JSON and etcd.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=19
// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{1,9}([.][0-9]{1,9})?$')",message="must be a decimal amount of US dollars such as \"0.003\": digits, an optional point and at most 9 decimals, no sign or exponent"
type Money string

// Criticality says how important a workload is when token quotas run short: sheddable workloads are
// scaled down first, then standard ones; critical ones never are.
// +kubebuilder:validation:Enum=critical;standard;sheddable
type Criticality string

const (
	// CriticalityCritical workloads are never shed or scaled down by Breakwater.
	CriticalityCritical Criticality = "critical"
	// CriticalityStandard workloads are shed after every sheddable one.
	CriticalityStandard Criticality = "standard"
	// CriticalitySheddable workloads are shed first.
	CriticalitySheddable Criticality = "sheddable"
)

// Mode says whether a policy acts or only records what it would do.
// +kubebuilder:validation:Enum=enforce;shadow
type Mode string

const (
	// ModeEnforce carries out every decision.
	ModeEnforce Mode = "enforce"
	// ModeShadow decides and records decisions in status and Events without acting on them.
	ModeShadow Mode = "shadow"
)

// LocalObjectReference names an object of a known kind in the same namespace.
type LocalObjectReference struct {
	// name of the object in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// SecretKeyReference names one key of a Secret in the same namespace.
type SecretKeyReference struct {
	// name of the Secret in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// key within the Secret whose value is used. Default: api-key.
	// +optional
	// +kubebuilder:default=api-key
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// RetryPolicy bounds how the guard retries a failed call. Only what is safe is retried: connection
// errors, throttling, 5xx answers and timeouts, and never once the first byte of an answer has reached
// the application.
// +kubebuilder:validation:XValidation:rule="!has(self.backoffBase) || !has(self.backoffMax) || !self.backoffBase.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || !self.backoffMax.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self.backoffBase) <= duration('0s') || duration(self.backoffMax) <= duration('0s') || duration(self.backoffBase) <= duration(self.backoffMax)",message="backoffBase must not be longer than backoffMax"
type RetryPolicy struct {
	// maxAttempts is the most attempts per request, the first one included; 1 turns retries off.
	// Default: 3.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	MaxAttempts int32 `json:"maxAttempts,omitempty"`

	// backoffBase is the backoff before the first retry; it doubles per retry, with full jitter.
	// Default: 200ms.
	// +optional
	// +kubebuilder:default="200ms"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="backoffBase must be a positive duration such as 200ms"
	BackoffBase metav1.Duration `json:"backoffBase,omitzero"`

	// backoffMax caps the backoff between two attempts. Default: 5s.
	// +optional
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="backoffMax must be a positive duration such as 5s"
	BackoffMax metav1.Duration `json:"backoffMax,omitzero"`

	// budgetPercent caps retries at this percentage of the requests of the last 10 seconds, so an
	// outage never multiplies traffic. 0 allows only minRetriesPerWindow. Default: 20.
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	BudgetPercent *int32 `json:"budgetPercent,omitempty"`

	// minRetriesPerWindow is the number of retries allowed in every 10-second window whatever the
	// budget, so that a quiet workload can still retry. Default: 3.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	MinRetriesPerWindow *int32 `json:"minRetriesPerWindow,omitempty"`

	// maxRetryAfter is the longest Retry-After from an upstream that the guard honours; a longer one
	// fails the attempt at once instead of holding the request. Default: 10s.
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="maxRetryAfter must be a positive duration such as 10s"
	MaxRetryAfter metav1.Duration `json:"maxRetryAfter,omitzero"`
}

// CircuitBreaker stops calls to a target that keeps failing, and probes it again after a while.
type CircuitBreaker struct {
	// failureRatePercent opens the circuit when at least this percentage of the calls in the window
	// failed (and at least minRequests were made). Default: 50.
	// +optional
	// +kubebuilder:default=50
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	FailureRatePercent int32 `json:"failureRatePercent,omitempty"`

	// minRequests is how many calls the window needs before its failure rate counts. Default: 20.
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	MinRequests int32 `json:"minRequests,omitempty"`

	// window is the rolling period over which the failure rate is measured. Default: 30s.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="window must be a positive duration such as 30s"
	Window metav1.Duration `json:"window,omitzero"`

	// consecutiveFailures also opens the circuit after this many failures in a row; 0 turns that
	// check off. Default: 5.
	// +optional
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	ConsecutiveFailures *int32 `json:"consecutiveFailures,omitempty"`

	// openDuration is how long an open circuit refuses calls before letting probes through.
	// Default: 30s.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="openDuration must be a positive duration such as 30s"
	OpenDuration metav1.Duration `json:"openDuration,omitzero"`

	// halfOpenProbes is how many trial calls a half-open circuit lets through at once; that many
	// successes close it, one failure opens it again. Default: 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	HalfOpenProbes int32 `json:"halfOpenProbes,omitempty"`
}
