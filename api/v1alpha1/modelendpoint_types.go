package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Provider is the API family a ModelEndpoint speaks; the application calls the guard in that
// provider's own protocol, and every target of the endpoint speaks it too.
// +kubebuilder:validation:Enum=bedrock;sagemaker;openai
type Provider string

const (
	// ProviderBedrock is Amazon Bedrock Runtime (Converse, ConverseStream, InvokeModel,
	// InvokeModelWithResponseStream), signed with SigV4 from the pod's AWS identity.
	ProviderBedrock Provider = "bedrock"
	// ProviderSageMaker is an Amazon SageMaker real-time endpoint (InvokeEndpoint and its streaming
	// variant), signed with SigV4 from the pod's AWS identity.
	ProviderSageMaker Provider = "sagemaker"
	// ProviderOpenAI is any OpenAI-compatible server (vLLM, KServe, hosted APIs): chat completions and
	// embeddings, JSON and Server-Sent Events.
	ProviderOpenAI Provider = "openai"
)

// ModelEndpointSpec declares one logical model served by one or more targets.
// +kubebuilder:validation:XValidation:rule="self.provider != 'bedrock' || self.targets.all(t, has(t.region) && has(t.modelId))",message="every target of a bedrock endpoint needs region and modelId"
// +kubebuilder:validation:XValidation:rule="self.provider != 'sagemaker' || self.targets.all(t, has(t.region) && has(t.endpointName))",message="every target of a sagemaker endpoint needs region and endpointName"
// +kubebuilder:validation:XValidation:rule="self.provider != 'openai' || self.targets.all(t, has(t.url))",message="every target of an openai endpoint needs url"
// +kubebuilder:validation:XValidation:rule="self.provider == 'openai' || self.targets.all(t, !has(t.url) && !has(t.apiKeySecretRef))",message="url and apiKeySecretRef are for openai targets; AWS targets use region and the pod's AWS identity (set endpointURL to override the AWS endpoint)"
// +kubebuilder:validation:XValidation:rule="self.provider == 'sagemaker' || self.targets.all(t, !has(t.endpointName))",message="endpointName is only for sagemaker targets"
// +kubebuilder:validation:XValidation:rule="self.targets.exists(t, t.weight > 0)",message="at least one target needs a weight above 0"
type ModelEndpointSpec struct {
	// provider is the API the application and every target speak: bedrock, sagemaker or openai.
	// +required
	Provider Provider `json:"provider"`

	// targets serve the model: Bedrock models or inference profiles in regions, SageMaker endpoints
	// or OpenAI-compatible URLs. Names are unique. Traffic is split by weight; the guard falls back to
	// the next healthy target when one fails.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Targets []ModelTarget `json:"targets"`

	// limits are checked by the guard before any upstream call.
	// +optional
	// +kubebuilder:default={}
	Limits ModelLimits `json:"limits,omitzero"`

	// timeouts bound how long the guard waits for a target.
	// +optional
	// +kubebuilder:default={}
	Timeouts ModelTimeouts `json:"timeouts,omitzero"`

	// retry bounds how the guard retries failed calls.
	// +optional
	// +kubebuilder:default={}
	Retry RetryPolicy `json:"retry,omitzero"`

	// circuitBreaker is applied to every target separately.
	// +optional
	// +kubebuilder:default={}
	CircuitBreaker CircuitBreaker `json:"circuitBreaker,omitzero"`
}

// ModelTarget is one place that serves the model.
type ModelTarget struct {
	// name identifies the target within the endpoint (a DNS label, e.g. us-east-1). FailoverPolicies
	// and status refer to it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// weight is the target's relative share of traffic, 0–100. A target with weight 0 is a standby
	// that only receives fallback and failover traffic. Weights are relative: the guards send each
	// target weight/sum of all weights of the traffic (status.targets[].weight shows the resulting
	// percentages). Default: 100.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Weight *int32 `json:"weight,omitempty"`

	// region is the AWS region of a bedrock or sagemaker target, e.g. us-east-1.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[a-z]{2}(-[a-z]+)+-[0-9]+$`
	Region string `json:"region,omitempty"`

	// modelId is the Bedrock model ID, inference profile ID or ARN to call in this target's region,
	// e.g. us.anthropic.claude-3-5-haiku-20241022-v1:0. It replaces the model ID in the application's
	// request, so each region can use its own ID.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	ModelID string `json:"modelId,omitempty"`

	// endpointName is the SageMaker endpoint to invoke in this target's region.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`
	EndpointName string `json:"endpointName,omitempty"`

	// url is the base URL of an OpenAI-compatible server, e.g. https://vllm.models.svc:8000 or
	// https://api.openai.com/v1. The guard adds /v1 when the URL does not end with it, then the
	// operation's path (/chat/completions, /embeddings).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="url must be an absolute http or https URL such as https://vllm.models.svc:8000"
	URL string `json:"url,omitempty"`

	// endpointURL overrides the AWS service endpoint of a bedrock or sagemaker target (a VPC
	// endpoint, or a local simulator); by default the region's public endpoint is used.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="endpointURL must be an absolute http or https URL"
	EndpointURL string `json:"endpointURL,omitempty"`

	// apiKeySecretRef names the Secret key holding the API key of an OpenAI-compatible target. The
	// Secret is mounted read-only into the guard; the application never sees the key.
	// +optional
	APIKeySecretRef *SecretKeyReference `json:"apiKeySecretRef,omitempty"`

	// price of this target's tokens, used for cost accounting and cost budgets.
	// +optional
	Price *TokenPrice `json:"price,omitempty"`
}

// TokenPrice is what a target charges for tokens, in US dollars per 1000 tokens.
type TokenPrice struct {
	// inputPer1kTokens is the price of 1000 prompt tokens in US dollars, e.g. "0.0008".
	// +required
	InputPer1kTokens Money `json:"inputPer1kTokens"`

	// outputPer1kTokens is the price of 1000 completion tokens in US dollars, e.g. "0.004".
	// +required
	OutputPer1kTokens Money `json:"outputPer1kTokens"`
}

// ModelLimits are checked by the guard before any upstream call; a request over a limit fails at once
// with the provider's own error shape and an X-Breakwater-Reason header.
type ModelLimits struct {
	// maxRequestBytes is the largest request body accepted, in bytes (413, request_too_large).
	// Default: 10485760 (10 MiB).
	// +optional
	// +kubebuilder:default=10485760
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=104857600
	MaxRequestBytes int64 `json:"maxRequestBytes,omitempty"`

	// maxPromptTokens is the largest estimated prompt, in tokens (413, prompt_too_large). The guard
	// estimates tokens cheaply from the prompt's size (see docs/guard.md). Unset: no limit.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000000
	MaxPromptTokens *int64 `json:"maxPromptTokens,omitempty"`

	// maxOutputTokens clamps the output tokens a request may ask for (max_tokens,
	// max_completion_tokens, inferenceConfig.maxTokens); set when the request asks for none.
	// Unset: no clamp.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	MaxOutputTokens *int64 `json:"maxOutputTokens,omitempty"`
}

// ModelTimeouts bound the time spent on one request.
// +kubebuilder:validation:XValidation:rule="!has(self.firstToken) || !has(self.request) || !self.firstToken.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || !self.request.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self.firstToken) <= duration('0s') || duration(self.request) <= duration('0s') || duration(self.firstToken) <= duration(self.request)",message="firstToken must not be longer than request"
// +kubebuilder:validation:XValidation:rule="!has(self.streamIdle) || !has(self.request) || !self.streamIdle.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || !self.request.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self.streamIdle) <= duration('0s') || duration(self.request) <= duration('0s') || duration(self.streamIdle) <= duration(self.request)",message="streamIdle must not be longer than request"
type ModelTimeouts struct {
	// request is the deadline of a whole request, across all attempts and the whole stream.
	// Default: 300s.
	// +optional
	// +kubebuilder:default="300s"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="request must be a positive duration such as 300s"
	Request metav1.Duration `json:"request,omitzero"`

	// firstToken is the longest wait for the first byte of an answer (the first event of a stream);
	// an attempt that waits longer is abandoned and may be retried. Unset: only request applies.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="firstToken must be a positive duration such as 10s"
	FirstToken *metav1.Duration `json:"firstToken,omitempty"`

	// streamIdle is the longest gap between two events of a stream. Default: 60s.
	// +optional
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="streamIdle must be a positive duration such as 60s"
	StreamIdle metav1.Duration `json:"streamIdle,omitzero"`
}

// ModelEndpointStatus is what the manager observed of a ModelEndpoint.
type ModelEndpointStatus struct {
	// conditions: Ready (the endpoint has at least one available target), Degraded (some target is
	// unavailable, unvalidated or its circuit is open).
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

	// targets is the state of every target.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Targets []TargetStatus `json:"targets,omitempty"`

	// observed holds live figures over the last evaluation window, from the guards' metrics.
	// +optional
	Observed *TrafficFigures `json:"observed,omitempty"`
}

// TargetStatus is the state of one target.
type TargetStatus struct {
	// name of the target.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// weight is the percentage of traffic the guards give the target now, 0–100; the weights of all
	// targets sum to 100. Failover may move it away from spec.targets[].weight.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Weight int32 `json:"weight"`

	// available is false when the target cannot take traffic (not serving the model in its region,
	// circuit open in the guards, missing credentials).
	// +required
	Available bool `json:"available"`

	// circuitState is the worst circuit state the guards report for the target: closed, open or
	// half_open.
	// +optional
	// +kubebuilder:validation:Enum=closed;open;half_open
	CircuitState string `json:"circuitState,omitempty"`

	// message says why the target is unavailable.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// TrafficFigures are live traffic figures. Rates and percentages are decimal strings (e.g. "0.42")
// because Kubernetes APIs carry no floats.
type TrafficFigures struct {
	// requestsPerSecond over the window.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	RequestsPerSecond string `json:"requestsPerSecond,omitempty"`

	// errorPercent is the percentage of requests that failed.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	ErrorPercent string `json:"errorPercent,omitempty"`

	// throttlePercent is the percentage of upstream calls the provider throttled.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	ThrottlePercent string `json:"throttlePercent,omitempty"`

	// p99Latency is the 99th percentile of request duration.
	// +optional
	P99Latency *metav1.Duration `json:"p99Latency,omitempty"`

	// tokensPerMinute is input plus output tokens per minute.
	// +optional
	// +kubebuilder:validation:Minimum=0
	TokensPerMinute *int64 `json:"tokensPerMinute,omitempty"`

	// window is the period the figures cover.
	// +optional
	Window *metav1.Duration `json:"window,omitempty"`

	// updatedAt is when the figures last changed; they are read every evaluation.
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=me,categories=breakwater
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.spec.provider`
// +kubebuilder:printcolumn:name="Active Target",type=string,JSONPath=`.status.activeTarget`
// +kubebuilder:printcolumn:name="Error%",type=string,JSONPath=`.status.observed.errorPercent`
// +kubebuilder:printcolumn:name="P99",type=string,JSONPath=`.status.observed.p99Latency`
// +kubebuilder:printcolumn:name="Tokens/Min",type=integer,JSONPath=`.status.observed.tokensPerMinute`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ModelEndpoint is one logical model served by one or more targets (Bedrock regions, SageMaker
// endpoints, OpenAI-compatible servers), with the limits, timeouts, retries and circuit breakers the
// guard applies to every call to it.
type ModelEndpoint struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired endpoint.
	// +required
	Spec ModelEndpointSpec `json:"spec"`

	// status is what the manager observed.
	// +optional
	Status ModelEndpointStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ModelEndpointList is a list of ModelEndpoints.
type ModelEndpointList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ModelEndpoint `json:"items"`
}
