package policy

import "time"

// The anti-flapping rules of issue #14 item 6, as pure functions a reconciler can call with the
// figures it already gathered. FailbackStablePeriod is wired (Failover, status.failedFailbacks),
// CycleBackoff too (RestoreWait and RecordShedCycle inside Scale, TokenQuota status.recentSheds); RestoreFits
// and StrictestQuotaState are not yet wired into the TokenQuota and GenAIWorkload reconcilers.

// RestoreFits says whether a shed workload may be restored: the usage it had before it was shed,
// added to the usage measured now, must stay below the warn threshold. Restoring without this check
// brings the quota straight back over the threshold and starts the next shed (the flap the
// simulations found under sustained over-demand). A workload whose pre-shed usage was not
// remembered (negative) is restored on the old rule, so upgrades do not strand workloads.
func RestoreFits(preShedUsage, currentUsage, warnThreshold int64) bool {
	if preShedUsage < 0 {
		return true
	}
	return preShedUsage+currentUsage < warnThreshold
}

// CycleBackoff is the wait before the next restore after cycles shed/restore cycles inside the
// window: base, doubled per earlier cycle, capped at ceiling. A quiet period (no shed for quiet) resets
// the count, which the caller does by passing the cycles counted since the last quiet period.
func CycleBackoff(cycles int, base, ceiling time.Duration) time.Duration {
	return doubled(base, cycles, ceiling)
}

// CyclesSince counts the shed times inside the window ending at now, and resets to zero when the
// latest shed is older than quiet.
func CyclesSince(sheds []time.Time, now time.Time, window, quiet time.Duration) int {
	if len(sheds) == 0 || now.Sub(latest(sheds)) >= quiet {
		return 0
	}
	n := 0
	for _, t := range sheds {
		if now.Sub(t) < window {
			n++
		}
	}
	return n
}

// FailbackStablePeriod is the stable period required before the next failback step after failed
// failback steps in a row: the configured period doubled per failure, capped at ceiling. A region that
// still fails then gets log2(outage/period) probes instead of one per period.
func FailbackStablePeriod(period time.Duration, failedSteps int, ceiling time.Duration) time.Duration {
	return doubled(period, failedSteps, ceiling)
}

// StrictestQuotaState picks, of the states of the TokenQuotas covering one workload, the most severe
// one: it is the one that holds. The owner of the remembered replicas is the TokenQuota that shed
// the workload first; its name is kept with the replicas and only it restores them.
func StrictestQuotaState[S any](states []S, severity func(S) int) (S, int) {
	var best S
	at := -1
	for i, s := range states {
		if at < 0 || severity(s) > severity(best) {
			best, at = s, i
		}
	}
	return best, at
}

func doubled(base time.Duration, n int, ceiling time.Duration) time.Duration {
	d := base
	for i := 0; i < n; i++ {
		if d >= ceiling/2 {
			return ceiling
		}
		d *= 2
	}
	if d > ceiling {
		return ceiling
	}
	return d
}

func latest(ts []time.Time) time.Time {
	l := ts[0]
	for _, t := range ts[1:] {
		if t.After(l) {
			l = t
		}
	}
	return l
}

// ShedCycleWindow is how far back shed cycles count, and ShedCycleQuiet how long a quota must go
// without starting one to restore after the plain cooldown again. MaxShedCycles is how many cycle
// starts the TokenQuota status keeps (status.recentSheds), and MaxRestoreBackoff caps the wait at
// this multiple of the cooldown (5 min: 2 h 40 min, which stays below ShedCycleQuiet, so that the
// wait itself never reads as quiet).
const (
	ShedCycleWindow   = 24 * time.Hour
	ShedCycleQuiet    = 6 * time.Hour
	MaxShedCycles     = 8
	MaxRestoreBackoff = 32
)

// RestoreWait is how long the quota must be Normal before shed workloads are restored: the
// cooldown, doubled for every earlier shed cycle started inside ShedCycleWindow (sheds holds the
// cycle starts, the current one included), back to the cooldown after ShedCycleQuiet without
// one. Under sustained over-demand each restore brings the demand back and the next shed follows;
// the doubling turns that flap into a few cycles an hour, then fewer. Scale applies it.
func RestoreWait(sheds []time.Time, now time.Time, cooldown time.Duration) time.Duration {
	cycles := CyclesSince(sheds, now, ShedCycleWindow, ShedCycleQuiet)
	return CycleBackoff(max(cycles-1, 0), cooldown, cooldown*MaxRestoreBackoff)
}

// RecordShedCycle returns sheds with now added when a shed cycle starts (shedding while no
// workload of the quota was shed), keeping the newest MaxShedCycles inside ShedCycleWindow; any
// other evaluation returns sheds as it is.
func RecordShedCycle(sheds []time.Time, now time.Time, starts bool) []time.Time {
	if !starts {
		return sheds
	}
	var out []time.Time
	for _, t := range sheds {
		if now.Sub(t) < ShedCycleWindow {
			out = append(out, t)
		}
	}
	out = append(out, now)
	if len(out) > MaxShedCycles {
		out = out[len(out)-MaxShedCycles:]
	}
	return out
}
