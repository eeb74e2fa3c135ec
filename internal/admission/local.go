package admission

import (
	"sync"
	"time"
)

// localWindow is one quota's budget in one guard while the store is unavailable (or for a quota
// enforced locally): the same 61 one-second slots and criticality rules as the store's script,
// against the guard's share of the limits.
//
// When the guard falls back from the store, the window starts with the fleet's usage the store
// last reported, divided by the number of guards, in the current slot: any 60 s interval across
// the switch then holds at most the store's admissions plus every guard's share of what was left,
// so the fleet stays within the limit plus rounding. What the guard admits on its own is also
// kept as spend to add to the store when it returns.
type localWindow struct {
	mu    sync.Mutex
	slots [windowSeconds]localSlot
	// unsent is what this guard admitted on its own since the store was last reachable.
	unsentTokens, unsentRequests int64
}

type localSlot struct {
	second                                 int64
	tokens, requests, critTokens, critReqs int64
}

// paceSeconds is the span critical traffic's pace is measured over, as in the script.
const paceSeconds = 10

// sums adds up the slots still in the window at second now.
// spend is what a window holds of one kind (tokens or requests): in all, of critical traffic, and
// critical traffic's pace scaled to a minute.
type spend struct{ all, crit, pace int64 }

// sums adds up the slots still in the window at second now, pacing critical traffic as the script
// does.
func (w *localWindow) sums(now int64) (tokens, requests spend) {
	first := int64(0)
	for i := range w.slots {
		s := &w.slots[i]
		if s.second > now-windowSeconds && s.second <= now {
			tokens.all, requests.all = tokens.all+s.tokens, requests.all+s.requests
			tokens.crit, requests.crit = tokens.crit+s.critTokens, requests.crit+s.critReqs
			if s.second > now-paceSeconds {
				tokens.pace, requests.pace = tokens.pace+s.critTokens, requests.pace+s.critReqs
				if s.critTokens > 0 && (first == 0 || s.second < first) {
					first = s.second
				}
			}
		}
	}
	span := int64(paceSeconds)
	if first != 0 && tokens.pace >= tokens.crit && requests.pace >= requests.crit {
		span = max(2, now-first+1)
	}
	tokens.pace, requests.pace = tokens.pace*60/span, requests.pace*60/span
	return tokens, requests
}

// slot returns second's slot, emptied if it held an older second.
func (w *localWindow) slot(second int64) *localSlot {
	s := &w.slots[second%windowSeconds]
	if s.second != second {
		*s = localSlot{second: second}
	}
	return s
}

// seed books the fleet's usage share at now, once per fallback.
func (w *localWindow) seed(now time.Time, tokens, requests int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.slot(now.Unix())
	s.tokens += tokens
	s.requests += requests
}

// limits is a quota's share for one guard: the configured limits times the learned share, over the
// number of guards, rounded up so that a small limit still admits something.
func localLimits(q Quota, share int64) (tokens, requests int64) {
	n := max(q.Guards, 1)
	part := func(limit int64) int64 {
		if limit <= 0 {
			return 0
		}
		return max(1, (limit*share/FullShare+n-1)/n)
	}
	return part(q.TokensPerMinute), part(q.RequestsPerMinute)
}

// reserve is the script's check against the local share; it reports 0 (admitted), 1 (refused at
// the shed threshold) or 2 (refused at the hard limit).
func (w *localWindow) reserve(now time.Time, class Class, n int64, q Quota, share int64, unsent bool) int {
	lt, lr := localLimits(q, share)
	w.mu.Lock()
	defer w.mu.Unlock()
	sec := now.Unix()
	tokens, requests := w.sums(sec)
	fits := func(limit int64, sp spend, ask int64) int {
		if limit <= 0 {
			return 0
		}
		if class == Critical {
			if sp.all+ask > limit*q.HardPercent/100 {
				return 2
			}
			return 0
		}
		other := sp.all - sp.crit + ask + max(sp.crit, sp.pace) + limit*q.CriticalReservePercent/100
		if class == Standard && other > limit*q.HardPercent/100 {
			return 2
		}
		if class == Sheddable && other > limit*q.ShedPercent/100 {
			return 1
		}
		return 0
	}
	if f := fits(lt, tokens, n); f != 0 {
		return f
	}
	if f := fits(lr, requests, 1); f != 0 {
		return f
	}
	s := w.slot(sec)
	s.tokens += n
	s.requests++
	if class == Critical {
		s.critTokens += n
		s.critReqs++
	}
	if unsent {
		w.unsentTokens += n
		w.unsentRequests++
	}
	return 0
}

// settle moves a local reservation made at second to the actual usage, as the script does.
func (w *localWindow) settle(second int64, class Class, delta, requestDelta int64, unsent bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := &w.slots[second%windowSeconds]
	if s.second == second {
		s.tokens += delta
		s.requests += requestDelta
		if class == Critical {
			s.critTokens += delta
			s.critReqs += requestDelta
		}
	}
	if unsent {
		w.unsentTokens = max(0, w.unsentTokens+delta)
		w.unsentRequests = max(0, w.unsentRequests+requestDelta)
	}
}

// takeUnsent returns and forgets what this guard admitted on its own.
func (w *localWindow) takeUnsent() (tokens, requests int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	tokens, requests = w.unsentTokens, w.unsentRequests
	w.unsentTokens, w.unsentRequests = 0, 0
	return tokens, requests
}

// reset empties the window (the store is back and holds the fleet's spend again).
func (w *localWindow) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.slots = [windowSeconds]localSlot{}
}
