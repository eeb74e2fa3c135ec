// Package policy holds Breakwater's decisions as pure functions: the state of a TokenQuota, the
// weights of a FailoverPolicy and the scale plan for the GenAIWorkloads under a quota.
//
// Each function takes one input struct that a reconciler fills from specs, status and metrics,
// including the current time (Now), and returns a plan. Nothing here reads a clock, calls the API
// server or a metric source, or starts a goroutine, so the same input always gives the same plan
// and every decision can be replayed in a test. Every plan carries a CamelCase Reason and a Message
// for people; the reconciler puts them in the condition and the Event word for word. Messages hold
// figures and names only, never request or prompt text.
//
// # Missing metrics
//
// A metric that could not be read is nil in the input, never zero. A decision that lacks one holds
// the last decision with reason MetricsUnavailable. The one exception is the quota state: if what
// could be measured already calls for a higher state, the quota escalates, because the missing
// figure can only make usage higher.
//
// # Quota state (QuotaState)
//
// Usage is compared with every limit set: tokens per minute against the tokens-per-minute limit,
// tokens today against tokensPerDay, cost today against costPerDay. Money is NanoUSD (billionths
// of a dollar, parsed exactly from the API's decimal strings), never a float. Percentages are
// computed exactly and rounded down to a tenth ("73.5"); the highest one is UsedPercent and its
// limit is Binding.
//
//   - Normal below thresholds.warnPercent (default 80), Warning from it, Shedding from
//     shedPercent (default 90), Exhausted from hardPercent (default 100).
//   - Projection: a daily budget (tokens or cost) is projected to 00:00 UTC at the current rate
//     (tokens per minute; cost per minute when given). A projection at or above 100% of the
//     budget moves the quota to at least Warning (reason ProjectedOverBudget); it never sheds by
//     itself.
//   - Escalation is immediate.
//   - Hysteresis: a state is left only when usage is below its threshold minus a margin of 5
//     points (DefaultHysteresisPoints; at most half the threshold, so a 4% threshold can still be
//     left below 2%) and the state is at least 2 minutes old (DefaultMinDwell). Projection is
//     left the same way, below 95%. Until then the state is held with reason Recovering. The
//     quota may drop more than one state at once if usage fell that far.
//   - Output-token clamp (for the guards' quota.outputTokenClamp): 0 in Normal; from Warning up,
//     half the smallest limits.maxOutputTokens of the quota's endpoints, at least 256
//     (DefaultClampFloor) and never above maxOutputTokens itself; 1024 (DefaultClampUnset) when
//     no endpoint sets maxOutputTokens. Under Warning the clamp is the only action: nobody is
//     scaled.
//
// # Failover weights (Failover)
//
// Targets are in spec order, most preferred first. Current and home weights (the endpoint's spec
// weights) are normalised to sum to exactly 100 with the largest-remainder method (round every
// share down, give the missing points one each to the largest remainders, ties to the more
// preferred target). All later arithmetic moves whole points, so weights stay integers in 0..100
// that sum to 100.
//
//   - Triggers per target over the window, checked in this order: quota percent (tokens per
//     minute against the target's own quota; needs no minimum of requests), throttle rate, error
//     rate, p99 latency. The rate and latency triggers count only with at least minRequests
//     (default 20) requests in the window. A target whose metrics are missing holds every weight
//     (MetricsUnavailable).
//   - A target is healthy when no trigger fires; HealthySince is handed back in the plan for the
//     reconciler to keep and pass in next time.
//   - Shift: the most preferred triggered target that still has weight gives up to
//     shift.stepPercent points (default 50) to healthy targets, most preferred first, each up to
//     its quota headroom (HeadroomPercent, see QuotaHeadroom: the share of the endpoint's tokens per
//     minute that keeps the target 5 points under its quota trigger); a target that is not
//     validated is never a destination unless requireValidatedTargets is false. With no room anywhere the weights are held
//     (NoHealthyTarget). One source per evaluation.
//   - Cooldown: no change at all (shift or failback) within shift.cooldown (default 1m) of the
//     last one; the plan says what is due (reason Cooldown).
//   - Failback (when enabled, default on): when nothing fires and the weights differ from home,
//     the most preferred target below its home weight that has been healthy for
//     failback.stablePeriod (default 5m) and is validated gets up to failback.stepPercent points
//     (default 25), within its headroom, taken from the targets above their home weight, least
//     preferred first. One step per cooldown. Otherwise FailbackPending says what it waits for.
//   - Shadow mode: the plan is the same, with Apply false.
//
// A drained target gets no requests, so no rate trigger can fire on it: it counts as healthy and
// the first failback step is the probe. A target that still fails takes at most
// failback.stepPercent of the traffic for about one cooldown before its triggers move it away
// again, and the next attempt waits another stable period.
//
// # Scale plan (Scale)
//
// Workloads are handled in name order; critical workloads are never scaled down.
//
//   - Warning: nothing is scaled (the output-token clamp acts first); shed workloads stay shed.
//   - Shedding: sheddable workloads above their floor (shedding.minReplicas) are scaled to it,
//     their replicas remembered. Standard workloads follow only when every sheddable one is at its
//     floor, none was acted on within the cooldown, and the quota has been Shedding for a
//     cooldown (ShedPending until then).
//   - Exhausted: sheddable and standard workloads are scaled to their floors at once.
//   - Normal: once the quota has been Normal for a cooldown, shed standard workloads are restored
//     to their remembered replicas (or kept at a higher count someone else set), then, a cooldown
//     after the last standard restore, the sheddable ones (RestorePending meanwhile).
//   - A shed workload that became critical is restored in any state.
//   - At most one action per workload per cooldown (DefaultScaleCooldown, 5m), counted from the
//     workload's LastAction. A workload already shed is not scaled again while shed.
//   - While the quota's usage cannot be measured (ScaleInput.MetricsUnavailable) nobody is shed or
//     restored.
//   - Shadow mode: actions are listed with Apply false.
//
// When demand stays above what fits, restoring puts the load back, the quota climbs again and the
// same workloads are shed again. The cooldowns bound that cycle (at most one action per workload
// per cooldown, restores only after a cooldown of Normal), and every workload is restored once
// demand falls.
//
// # Feeding the functions
//
// FailoverSettings, QuotaSettings and ScaleWorkload copy the spec fields; the reconciler adds the
// metrics and the state below, which must survive a manager restart, so it lives in the cluster:
//
//   - Quota: when only some endpoints reported a figure, their sum is UsageLowerBound: it may
//     escalate the quota, never relax it.
//   - Quota: Previous and PreviousSince are status.state and status.lastTransitionTime; store
//     QuotaPlan.State and, when Changed, QuotaPlan.Since. Scale's State and StateSince are the
//     same two values after the plan.
//   - Failover: LastShift is status.lastShift.time; store FailoverPlan.LastShift. HealthySince is
//     per target; the status has no field for it, so HealthySince derives it from lastShift. If
//     it is lost the target only waits one more stable period before failback, which is the safe
//     direction. Current weights are CurrentWeights (status.weights while in force, else the home
//     weights); the plan goes back into the endpoint's weights with MergeWeights.
//
// # Which weights are in force
//
// SteeringPolicy chooses the FailoverPolicy whose weights an endpoint's guards get (the first
// Ready one by name with status weights) and PolicyWeights says whether its weights still apply
// (they name exactly the endpoint's targets and sum to 100). The renderer and the ModelEndpoint's
// status both ask them, so status shows what the guards do. QuotaSeverity orders quota states for
// the renderer's "strictest covering quota wins" and for the quota loop.
//   - Scale: Remembered is status.rememberedReplicas (and the workload's annotation); LastAction
//     the time of the last shed or restore, e.g. the Shed condition's lastTransitionTime.
package policy
