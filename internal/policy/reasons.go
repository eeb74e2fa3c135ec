package policy

// Reasons are CamelCase words for conditions and Events. A plan's Reason becomes the condition's
// reason and the Event's reason word for word, so they are part of the API: do not rename them.
const (
	// ReasonMetricsUnavailable: a metric a decision needs is missing; the last decision is held.
	ReasonMetricsUnavailable = "MetricsUnavailable"
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
)
