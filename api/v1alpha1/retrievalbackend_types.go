package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RetrievalType is the API a retrieval backend speaks.
// +kubebuilder:validation:Enum=opensearch;http
type RetrievalType string

const (
	// RetrievalOpenSearch is OpenSearch (or Elasticsearch-compatible) _search: the guard caps size and
	// every kNN k.
	RetrievalOpenSearch RetrievalType = "opensearch"
	// RetrievalHTTP is any HTTP/JSON search API: the guard caps the request field named by countField
	// and trims the array named by documentsField in the answer.
	RetrievalHTTP RetrievalType = "http"
)

// FailureMode is what the guard answers when a retrieval backend fails or its circuit is open.
// +kubebuilder:validation:Enum=degrade;cache;fail
type FailureMode string

const (
	// FailureDegrade answers with no documents (an empty result in the backend's own shape), so the
	// application carries on without context.
	FailureDegrade FailureMode = "degrade"
	// FailureCache serves the most recent successful answer to the same request, if it is younger than
	// cacheTTL, and degrades otherwise.
	FailureCache FailureMode = "cache"
	// FailureFail passes the error on to the application.
	FailureFail FailureMode = "fail"
)

// RetrievalBackendSpec declares a vector store or search service and how the guard protects it.
// +kubebuilder:validation:XValidation:rule="self.type != 'http' || (has(self.countField) && has(self.documentsField))",message="an http backend needs countField (the request field that sets how many documents to return, e.g. top_k) and documentsField (the answer's array of documents, e.g. results)"
// +kubebuilder:validation:XValidation:rule="!has(self.onFailure.mode) || self.onFailure.mode != 'cache' || has(self.onFailure.cacheTTL)",message="onFailure.mode cache needs onFailure.cacheTTL, the age after which a cached answer is no longer served"
type RetrievalBackendSpec struct {
	// type is the backend's API: opensearch or http.
	// +required
	Type RetrievalType `json:"type"`

	// url is the backend's base URL, e.g. https://search.vectors.svc:9200; the guard appends the
	// request path.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="url must be an absolute http or https URL such as https://search.vectors.svc:9200"
	URL string `json:"url"`

	// maxDocuments caps the documents one retrieval call may ask for and return. Default: 20.
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxDocuments int32 `json:"maxDocuments,omitempty"`

	// countField is the dotted path of the request field that sets how many documents an http
	// backend returns, e.g. top_k.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`
	CountField string `json:"countField,omitempty"`

	// documentsField is the dotted path of the array of documents in an http backend's answer,
	// e.g. results.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`
	DocumentsField string `json:"documentsField,omitempty"`

	// maxResponseBytes is the largest answer the guard passes on, in bytes; a larger one counts as a
	// failure. Default: 8388608 (8 MiB).
	// +optional
	// +kubebuilder:default=8388608
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=268435456
	MaxResponseBytes int64 `json:"maxResponseBytes,omitempty"`

	// timeout is the deadline of one retrieval call, across all attempts. Default: 2s.
	// +optional
	// +kubebuilder:default="2s"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="timeout must be a positive duration such as 2s"
	Timeout metav1.Duration `json:"timeout,omitzero"`

	// retry bounds how the guard retries failed calls.
	// +optional
	// +kubebuilder:default={}
	Retry RetryPolicy `json:"retry,omitzero"`

	// circuitBreaker protects the backend from calls while it keeps failing.
	// +optional
	// +kubebuilder:default={}
	CircuitBreaker CircuitBreaker `json:"circuitBreaker,omitzero"`

	// onFailure says what the application gets when the backend fails.
	// +optional
	// +kubebuilder:default={}
	OnFailure RetrievalFailurePolicy `json:"onFailure,omitzero"`
}

// RetrievalFailurePolicy is what the guard answers when a retrieval backend fails.
type RetrievalFailurePolicy struct {
	// mode is degrade (answer with no documents), cache (serve a recent answer) or fail (pass the
	// error on). Default: degrade.
	// +optional
	// +kubebuilder:default=degrade
	Mode FailureMode `json:"mode,omitempty"`

	// cacheTTL is how old a cached answer may be and still be served in mode cache.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="cacheTTL must be a positive duration such as 5m"
	CacheTTL *metav1.Duration `json:"cacheTTL,omitempty"`
}

// RetrievalBackendStatus is what the manager observed of a RetrievalBackend.
type RetrievalBackendStatus struct {
	// conditions: Ready, Degraded (the guards are answering in the failure mode).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation of the spec this status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// p99Latency is the 99th percentile of call duration over the last window.
	// +optional
	P99Latency *metav1.Duration `json:"p99Latency,omitempty"`

	// errorPercent is the percentage of calls that failed over the last window, as a decimal string.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	ErrorPercent string `json:"errorPercent,omitempty"`

	// degradedPercent is the percentage of answers served in the failure mode over the last window.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	DegradedPercent string `json:"degradedPercent,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rb,categories=breakwater
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Max Docs",type=integer,JSONPath=`.spec.maxDocuments`
// +kubebuilder:printcolumn:name="On Failure",type=string,JSONPath=`.spec.onFailure.mode`
// +kubebuilder:printcolumn:name="Error%",type=string,JSONPath=`.status.errorPercent`
// +kubebuilder:printcolumn:name="Degraded%",type=string,JSONPath=`.status.degradedPercent`
// +kubebuilder:printcolumn:name="P99",type=string,JSONPath=`.status.p99Latency`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// RetrievalBackend is a vector store or search service, with the caps, timeout, retries, circuit
// breaker and failure mode the guard applies to every call to it.
type RetrievalBackend struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired backend.
	// +required
	Spec RetrievalBackendSpec `json:"spec"`

	// status is what the manager observed.
	// +optional
	Status RetrievalBackendStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// RetrievalBackendList is a list of RetrievalBackends.
type RetrievalBackendList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RetrievalBackend `json:"items"`
}
