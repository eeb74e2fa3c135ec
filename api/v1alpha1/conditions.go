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
	// ConditionTargetsValidated says whether the Bedrock catalogue confirmed that every target of
	// a FailoverPolicy serves its model in its region; traffic never moves onto a target it did not
	// confirm while requireValidatedTargets is true.
	ConditionTargetsValidated = "TargetsValidated"
	// ConditionAdmissionStoreAvailable says whether the admission store answers: while it does
	// not, every guard enforces its local share of a shared TokenQuota.
	ConditionAdmissionStoreAvailable = "AdmissionStoreAvailable"
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
	// ReasonMetricsUnavailable: a metric source failed, or a metric a decision needs is missing;
	// the last decision is held.
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

// Reasons of the MetricsAvailable, LimitResolved and TargetsValidated conditions besides the shared
// ones above.
const (
	// ReasonMetricsRead: the metric source answered a FailoverPolicy's queries.
	ReasonMetricsRead = "MetricsRead"
	// ReasonUsageMeasured: every endpoint's usage of a TokenQuota was read from the metric source.
	ReasonUsageMeasured = "UsageMeasured"
	// ReasonServiceQuotaRead: a TokenQuota's tokens-per-minute limit was read from AWS Service Quotas.
	ReasonServiceQuotaRead = "ServiceQuotaRead"
	// ReasonServiceQuotaUnavailable: Service Quotas could not be read and no earlier value is known.
	ReasonServiceQuotaUnavailable = "ServiceQuotaUnavailable"
	// ReasonInvalidLimit: a limit of a TokenQuota's spec cannot be read (the API server should have
	// refused it).
	ReasonInvalidLimit = "InvalidLimit"
	// ReasonTargetsServed: every target of a FailoverPolicy is confirmed (or no catalogue applies to
	// its provider).
	ReasonTargetsServed = "TargetsServed"
	// ReasonTargetNotServed: the catalogue says a target's region does not serve its model.
	ReasonTargetNotServed = "TargetNotServed"
	// ReasonValidationUnavailable: no catalogue is configured, or it could not be read.
	ReasonValidationUnavailable = "ValidationUnavailable"
)

// Reasons of the GenAIWorkload Shed condition when the TokenQuota loop finds the workload's status
// and its annotations (the scaler's record of what it did) disagree, e.g. after a manager stopped
// between scaling and writing status; and after a quota's deletion.
const (
	// ReasonShedRecorded: the workload is shed according to its annotations; status now says so.
	ReasonShedRecorded = "ShedRecorded"
	// ReasonRestoreRecorded: the workload was restored according to its annotations; status now
	// says so.
	ReasonRestoreRecorded = "RestoreRecorded"
	// ReasonShedReverted: the workload is shed, but something set its replicas (or autoscaler)
	// back; Breakwater does not scale it again.
	ReasonShedReverted = "ShedReverted"
	// ReasonQuotaDeleted: the quota that shed the workload was deleted and the workload restored.
	ReasonQuotaDeleted = "QuotaDeleted"
)

// Reasons internal/policy decides: a plan's Reason becomes the condition's reason (TokenQuota's
// MetricsAvailable-independent state, FailoverPolicy's FailedOver, GenAIWorkload's Shed) and the
// Event's reason word for word.
const (
	// ReasonSteady: nothing to change.
	ReasonSteady = "Steady"

	// Quota state reasons.

	// ReasonWithinLimits: usage is below the warn threshold of every limit.
	ReasonWithinLimits = "WithinLimits"
	// ReasonWarnThresholdReached: usage reached thresholds.warnPercent of a limit.
	ReasonWarnThresholdReached = "WarnThresholdReached"
	// ReasonProjectedOverBudget: at the current rate a daily budget would be used up before the end
	// of the UTC day.
	ReasonProjectedOverBudget = "ProjectedOverBudget"
	// ReasonShedThresholdReached: usage reached thresholds.shedPercent of a limit.
	ReasonShedThresholdReached = "ShedThresholdReached"
	// ReasonHardLimitReached: usage reached thresholds.hardPercent of a limit.
	ReasonHardLimitReached = "HardLimitReached"
	// ReasonRecovering: usage fell below the state's threshold, but not yet below it minus the
	// hysteresis margin, or not for the minimum dwell time; the state is held.
	ReasonRecovering = "Recovering"
	// ReasonLimitUnresolved: no limit is known (for example a Service Quotas limit not read yet).
	ReasonLimitUnresolved = "LimitUnresolved"

	// Failover reasons.

	// ReasonThrottleRateHigh: a target's throttle rate reached its trigger.
	ReasonThrottleRateHigh = "ThrottleRateHigh"
	// ReasonErrorRateHigh: a target's error rate reached its trigger.
	ReasonErrorRateHigh = "ErrorRateHigh"
	// ReasonLatencyHigh: a target's p99 latency exceeded its trigger.
	ReasonLatencyHigh = "LatencyHigh"
	// ReasonQuotaHigh: a target's tokens-per-minute usage reached its quota trigger.
	ReasonQuotaHigh = "QuotaHigh"
	// ReasonFailback: traffic returned one step toward a preferred target that has been healthy for
	// the stable period.
	ReasonFailback = "Failback"
	// ReasonFailbackPending: traffic is away from its preferred split and waits for the stable
	// period (or for quota headroom) before returning.
	ReasonFailbackPending = "FailbackPending"
	// ReasonNoHealthyTarget: a target fired a trigger but no healthy, validated target has room to
	// take its traffic; the weights are held.
	ReasonNoHealthyTarget = "NoHealthyTarget"
	// ReasonCooldown: a change is due but the last one was less than a cooldown ago.
	ReasonCooldown = "Cooldown"

	// Scale reasons.

	// ReasonShedForQuota: a workload is scaled to its floor because its quota is Shedding.
	ReasonShedForQuota = "QuotaShedding"
	// ReasonShedForExhaustedQuota: a workload is scaled to its floor because its quota is Exhausted.
	ReasonShedForExhaustedQuota = "QuotaExhausted"
	// ReasonRestored: a shed workload is scaled back to its remembered replicas.
	ReasonRestored = "QuotaRecovered"
	// ReasonCriticalRestored: a shed workload that is now critical is restored at once.
	ReasonCriticalRestored = "CriticalityRaised"
	// ReasonClampOnly: the quota is in Warning; the output-token clamp acts and nobody is scaled.
	ReasonClampOnly = "OutputClampOnly"
	// ReasonShedPending: more shedding is due but waits for a cooldown, so the effect of the last
	// step can be seen first.
	ReasonShedPending = "ShedPending"
	// ReasonRestorePending: workloads are shed and wait for the quota to stay Normal for a cooldown
	// (or for the previous restore step to settle).
	ReasonRestorePending = "RestorePending"
	// ReasonStoreAnswering: the admission store answered the manager's last read.
	ReasonStoreAnswering = "StoreAnswering"
	// ReasonStoreUnavailable: the admission store did not answer; guards enforce their local share.
	ReasonStoreUnavailable = "StoreUnavailable"
	// ReasonLearnedLimitLowered and ReasonLearnedLimitRaised are Events: the provider throttled
	// below the configured limits, or the learned limit climbed back, by more than 10 points.
	ReasonLearnedLimitLowered = "LearnedLimitLowered"
	ReasonLearnedLimitRaised  = "LearnedLimitRaised"
)
