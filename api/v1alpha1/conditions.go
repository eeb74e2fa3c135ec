package v1alpha1

// Condition types shared by the kinds of this package. Ready is always present.
const (
	// ConditionReady says the object is resolved and in force.
	ConditionReady = "Ready"
	// ConditionDegraded says part of the object is not in force (a target unavailable, a backend
	// answering in its failure mode).
	ConditionDegraded = "Degraded"
	// ConditionMetricsAvailable says the metric sources the object's decisions need answered.
	ConditionMetricsAvailable = "MetricsAvailable"
	// ConditionConfigRendered says a GenAIWorkload's guard config is rendered and current.
	ConditionConfigRendered = "ConfigRendered"
	// ConditionShed says a GenAIWorkload is shed by a TokenQuota.
	ConditionShed = "Shed"
	// ConditionFailedOver says a FailoverPolicy moved traffic away from its most preferred target.
	ConditionFailedOver = "FailedOver"
	// ConditionLimitResolved says a TokenQuota's limits are known (static, or read from Service Quotas).
	ConditionLimitResolved = "LimitResolved"
)

// Condition reasons, CamelCase, shared by the kinds of this package.
const (
	// ReasonReconciled: everything the object names was found and applied.
	ReasonReconciled = "Reconciled"
	// ReasonEndpointNotFound: a referenced ModelEndpoint does not exist (yet).
	ReasonEndpointNotFound = "EndpointNotFound"
	// ReasonBackendNotFound: a referenced RetrievalBackend does not exist (yet).
	ReasonBackendNotFound = "BackendNotFound"
	// ReasonWorkloadNotFound: the referenced Deployment or StatefulSet does not exist (yet).
	ReasonWorkloadNotFound = "WorkloadNotFound"
	// ReasonTargetNotFound: a FailoverPolicy names a target its ModelEndpoint does not have.
	ReasonTargetNotFound = "TargetNotFound"
	// ReasonSecretNotFound: a referenced Secret or Secret key does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonMetricsUnavailable: a metric source failed; the last decision is held.
	ReasonMetricsUnavailable = "MetricsUnavailable"
	// ReasonConfigInvalid: the guard config rendered from the referenced objects fails the guard's
	// own validation; the message names the field to change.
	ReasonConfigInvalid = "ConfigInvalid"
	// ReasonAllTargetsAvailable: every target of a ModelEndpoint can take traffic.
	ReasonAllTargetsAvailable = "AllTargetsAvailable"
	// ReasonTargetsUnavailable: some target of a ModelEndpoint cannot take traffic.
	ReasonTargetsUnavailable = "TargetsUnavailable"
	// ReasonStaticLimit: a TokenQuota's limits are the static ones of its spec.
	ReasonStaticLimit = "StaticLimit"
	// ReasonServiceQuotaPending: a TokenQuota's tokens-per-minute limit comes from AWS Service Quotas
	// and has not been read yet.
	ReasonServiceQuotaPending = "ServiceQuotaPending"
)
