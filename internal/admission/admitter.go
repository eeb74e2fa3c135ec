package admission

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Observer hears what the admitter does, for metrics and logs. Calls may come from any goroutine.
type Observer interface {
	// StoreAvailable reports a change of the store's availability, with the error that ended it.
	StoreAvailable(up bool, err error)
	// StoreCall reports one reservation's round trip to the store.
	StoreCall(d time.Duration, err error)
	// Share reports a quota's learned share of its limits, in millionths, when it changes.
	Share(quota string, share int64)
	// SettleDropped reports a settle the store never saw (queue full or store error): the
	// reservation stays at its estimate, which errs on the safe side.
	SettleDropped()
}

// Store breaker: after a failed call the store is skipped for a backoff that doubles per failed
// probe; one request probes it again.
const (
	minStoreBackoff = 200 * time.Millisecond
	maxStoreBackoff = 2 * time.Second
	settleQueueSize = 4096
	settleBatch     = 64
)

// Admitter is the guard's side of admission: the store when it answers within its timeout, each
// quota's local share otherwise. It never blocks a request longer than the store's timeout.
type Admitter struct {
	store *Store // nil: every quota is enforced locally
	obs   Observer
	now   func() time.Time

	mu      sync.Mutex
	up      bool
	probing bool
	retryAt time.Time
	backoff time.Duration
	keys    map[string]*keyState

	settles chan settleOp
	stop    chan struct{}
	stopped chan struct{}
}

// keyState is what one guard knows of one quota.
type keyState struct {
	window localWindow
	// share is the learned share last reported by the store (or lowered locally), shareAt when.
	share   int64
	shareAt time.Time
	lowered time.Time // when a local throttle last lowered it
	// quota is the quota as last configured.
	quota Quota
	// used is the fleet's usage the store last reported, at usedAt, in the key of epoch.
	used   int64
	usedAt time.Time
	epoch  int64
	// seed is the share of used the local window started with when the store went away.
	seed int64
}

type settleOp struct {
	d                Decision
	class            Class
	reserved, actual int64
	sent             bool
	quotas           []Quota
}

// Ticket is one request's admission, to settle when it ends.
type Ticket struct {
	// Admitted, and for a refusal Reason and Quota.
	Admitted      bool
	Reason, Quota string
	// Mode is Shared when the store decided for the shared quotas, Local when the guard did.
	Mode Enforcement

	class   Class
	tokens  int64
	at      time.Time
	shared  []Quota // enforced in the store (when Mode is Shared) or by the fallback share
	local   []Quota // enforced locally by configuration
	storeD  Decision
	decided bool
}

// NewAdmitter uses store (nil: local enforcement only) and reports to obs (nil: nowhere).
func NewAdmitter(store *Store, obs Observer, now func() time.Time) *Admitter {
	if now == nil {
		now = time.Now
	}
	if obs == nil {
		obs = nopObserver{}
	}
	a := &Admitter{store: store, obs: obs, now: now, up: true, keys: map[string]*keyState{},
		settles: make(chan settleOp, settleQueueSize), stop: make(chan struct{}), stopped: make(chan struct{})}
	if store != nil {
		go a.settleLoop()
	} else {
		close(a.stopped)
	}
	return a
}

// Close stops the settle worker after it sent what is queued.
func (a *Admitter) Close() {
	if a.store == nil {
		return
	}
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	<-a.stopped
}

func (a *Admitter) key(q Quota) *keyState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.keyLocked(q)
}

// keyLocked is key with a.mu held.
func (a *Admitter) keyLocked(q Quota) *keyState {
	k := a.keys[q.Key]
	if k == nil {
		k = &keyState{share: FullShare}
		a.keys[q.Key] = k
	}
	k.quota = q
	return k
}

// shareNow is the key's learned share climbed back since it was set, as the script computes it.
func (k *keyState) shareNow(now time.Time) int64 {
	if k.share >= FullShare {
		return FullShare
	}
	return min(FullShare, k.share+recoveryPpmPerSecond*max(0, now.Sub(k.shareAt).Milliseconds())/1000)
}

// Reserve admits or refuses a request of class that is estimated at tokens, against every quota.
func (a *Admitter) Reserve(ctx context.Context, class Class, tokens int64, quotas []Quota) Ticket {
	t := Ticket{class: class, tokens: tokens, at: a.now(), Mode: Local, Admitted: true}
	for _, q := range quotas {
		if q.Enforcement == Local {
			t.local = append(t.local, q)
		} else {
			t.shared = append(t.shared, q)
		}
	}
	if !a.reserveLocal(&t, t.local, false) {
		return t
	}
	if len(t.shared) == 0 {
		return t
	}
	if a.store != nil && a.useStore() {
		start := time.Now()
		d, err := a.store.Reserve(ctx, class, tokens, t.shared)
		a.obs.StoreCall(time.Since(start), err)
		if ctx.Err() != nil && err != nil {
			// The app went away: the store is not to blame, and nothing is owed.
			a.probeDone()
			a.settleLocal(t, t.local, 0, false, false)
			return Ticket{Reason: ReasonExhausted}
		}
		a.storeResult(err)
		if err == nil {
			a.remember(t.shared, d)
			t.Mode, t.storeD, t.decided = Shared, d, true
			if !d.Admitted {
				a.settleLocal(t, t.local, 0, false, false)
				t.Admitted, t.Reason, t.Quota = false, d.Reason, d.Quota
			}
			return t
		}
	}
	if !a.reserveLocal(&t, t.shared, true) {
		a.settleLocal(t, t.local, 0, false, false)
	}
	return t
}

// reserveLocal checks quotas against their local windows, taking from all or none; a refusal is
// written into t.
func (a *Admitter) reserveLocal(t *Ticket, quotas []Quota, fallback bool) bool {
	for i, q := range quotas {
		k := a.key(q)
		share := int64(FullShare)
		if fallback {
			a.mu.Lock()
			share = k.shareNow(t.at)
			a.mu.Unlock()
		}
		if f := k.window.reserve(t.at, t.class, t.tokens, q, share, fallback); f != 0 {
			for _, done := range quotas[:i] {
				a.key(done).window.settle(t.at.Unix(), t.class, -t.tokens, -1, fallback)
			}
			t.Admitted, t.Quota, t.Reason = false, q.Key, ReasonExhausted
			if f == 1 {
				t.Reason = ReasonShed
			}
			return false
		}
	}
	return true
}

func (a *Admitter) settleLocal(t Ticket, quotas []Quota, actual int64, sent, fallback bool) {
	dr := int64(0)
	if !sent {
		dr = -1
	}
	for _, q := range quotas {
		a.key(q).window.settle(t.at.Unix(), t.class, actual-t.tokens, dr, fallback)
	}
}

// Settle replaces the ticket's reservation by the usage the provider reported (actual tokens);
// sent false says the request never reached a provider. Store settles go out asynchronously.
func (a *Admitter) Settle(t Ticket, actual int64, sent bool) {
	if !t.Admitted {
		return
	}
	a.settleLocal(t, t.local, actual, sent, false)
	if len(t.shared) == 0 {
		return
	}
	if !t.decided {
		a.settleLocal(t, t.shared, actual, sent, true)
		return
	}
	select {
	case a.settles <- settleOp{d: t.storeD, class: t.class, reserved: t.tokens, actual: actual, sent: sent, quotas: t.shared}:
	default:
		a.obs.SettleDropped()
	}
}

// Throttled tells the admitter that a provider throttled a request it admitted: the quotas'
// learned share drops, in the store for the whole fleet, or locally while on the fallback share.
// Each quota is lowered at most once per cooldown from this guard, so a storm of throttles is not
// a storm of store calls (the store applies the same cooldown across the fleet).
func (a *Admitter) Throttled(t Ticket) {
	if !t.Admitted || len(t.shared) == 0 {
		return
	}
	now := a.now()
	var due []*keyState
	var dueQuotas []Quota
	a.mu.Lock()
	for _, q := range t.shared {
		k := a.keyLocked(q)
		if now.Sub(k.lowered) >= throttleCooldown {
			k.lowered = now
			due, dueQuotas = append(due, k), append(dueQuotas, q)
		}
	}
	if !t.decided {
		for _, k := range due {
			k.share, k.shareAt = max(shareFloor, k.shareNow(now)*throttleKeepPercent/100), now
		}
	}
	a.mu.Unlock()
	if len(due) == 0 {
		return
	}
	if !t.decided {
		for i, k := range due {
			a.obs.Share(dueQuotas[i].Key, k.share)
		}
		return
	}
	go func() {
		shares, err := a.store.Throttled(context.Background(), dueQuotas)
		if err != nil {
			return
		}
		a.setShares(dueQuotas, shares, a.now(), nil)
	}()
}

// Shares returns each known quota's learned share as this guard last saw it.
func (a *Admitter) Shares() map[string]int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	out := make(map[string]int64, len(a.keys))
	for key, k := range a.keys {
		out[key] = k.shareNow(now)
	}
	return out
}

// remember keeps what the store said of each quota: the fallback needs the fleet's usage, and
// the learned share applies to the fallback share too.
func (a *Admitter) remember(quotas []Quota, d Decision) {
	a.setShares(quotas, d.Shares, a.now(), func(i int, k *keyState, now time.Time) {
		k.used, k.usedAt, k.epoch = d.Used[i], now, d.Epochs[i]
	})
}

// setShares records the store's shares (and, with also, more of its answer) under one lock, and
// reports the shares that changed.
func (a *Admitter) setShares(quotas []Quota, shares []int64, now time.Time, also func(i int, k *keyState, now time.Time)) {
	var changed []int
	a.mu.Lock()
	for i, q := range quotas[:min(len(quotas), len(shares))] {
		k := a.keyLocked(q)
		if k.shareNow(now) != shares[i] {
			changed = append(changed, i)
		}
		k.share, k.shareAt = shares[i], now
		if also != nil {
			also(i, k, now)
		}
	}
	a.mu.Unlock()
	for _, i := range changed {
		a.obs.Share(quotas[i].Key, shares[i])
	}
}

// useStore is the breaker: true while the store is up, and for one probe once the backoff passed.
func (a *Admitter) useStore() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.up {
		return true
	}
	if a.probing || a.now().Before(a.retryAt) {
		return false
	}
	a.probing = true
	return true
}

func (a *Admitter) probeDone() {
	a.mu.Lock()
	a.probing = false
	a.mu.Unlock()
}

// storeResult moves the breaker. Going down seeds every quota's local window with its share of
// the fleet's usage last seen; coming back sends what the guard admitted on its own meanwhile.
func (a *Admitter) storeResult(err error) {
	a.mu.Lock()
	a.probing = false
	now := a.now()
	if err == nil {
		if a.up {
			a.mu.Unlock()
			return
		}
		a.up, a.backoff = true, 0
		// Taken now, before this reservation's answer (from the store that came back) replaces
		// the epoch the guard last saw.
		var replays []replay
		for _, k := range a.keys {
			if k.quota.Enforcement == Local {
				continue
			}
			tokens, requests := k.window.takeUnsent()
			replays = append(replays, replay{q: k.quota, r: Replay{Tokens: tokens, Requests: requests, Epoch: k.epoch, SeedTokens: k.seed}})
			k.seed = 0
			k.window.reset()
		}
		a.mu.Unlock()
		a.obs.StoreAvailable(true, nil)
		go a.sendReplays(replays)
		return
	}
	wasUp := a.up
	a.up = false
	a.backoff = min(max(2*a.backoff, minStoreBackoff), maxStoreBackoff)
	a.retryAt = now.Add(a.backoff)
	if wasUp {
		for _, k := range a.keys {
			if k.quota.Enforcement == Local {
				continue // its window is the guard's own and stays
			}
			k.window.reset()
			k.seed = 0
			if now.Sub(k.usedAt) < windowDuration {
				k.seed = k.used / max(1, k.quota.Guards)
				k.window.seed(now, k.seed, 0)
			}
		}
	}
	a.mu.Unlock()
	if wasUp {
		a.obs.StoreAvailable(false, err)
	}
}

type replay struct {
	q Quota
	r Replay
}

// sendReplays adds to the store what this guard admitted on its own share while it was away (and
// its share of the fleet's spend, should the store have lost the quota), so that the store's
// window holds the whole fleet's spend again.
func (a *Admitter) sendReplays(replays []replay) {
	for _, rp := range replays {
		if rp.r.Tokens == 0 && rp.r.Requests == 0 && rp.r.SeedTokens == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*a.store.timeout)
		if err := a.store.Add(ctx, rp.r, rp.q); err != nil {
			a.obs.SettleDropped()
		}
		cancel()
	}
}

// settleLoop sends queued settles, pipelined in batches, until Close.
func (a *Admitter) settleLoop() {
	defer close(a.stopped)
	batch := make([]settleOp, 0, settleBatch)
	for {
		select {
		case op := <-a.settles:
			batch = append(batch[:0], op)
		case <-a.stop:
			for {
				select {
				case op := <-a.settles:
					a.sendSettles([]settleOp{op})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < settleBatch {
			select {
			case op := <-a.settles:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		a.sendSettles(batch)
	}
}

// sendSettles runs one pipeline of settle scripts; a script the server does not know yet (a
// restarted or new Redis) is loaded and the batch sent again once.
func (a *Admitter) sendSettles(ops []settleOp) {
	for try := 0; try < 2; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*a.store.timeout)
		pipe := a.store.client.Pipeline()
		now := a.now().UnixMilli()
		for _, op := range ops {
			keys, args := op.settleArgs(now)
			settleScript.EvalSha(ctx, pipe, keys, args...)
		}
		_, err := pipe.Exec(ctx)
		cancel()
		if err == nil {
			return
		}
		if try == 0 && redis.HasErrorPrefix(err, "NOSCRIPT") {
			lctx, lcancel := context.WithTimeout(context.Background(), 10*a.store.timeout)
			lerr := settleScript.Load(lctx, a.store.client).Err()
			lcancel()
			if lerr == nil {
				continue
			}
		}
		for range ops {
			a.obs.SettleDropped()
		}
		return
	}
}

func (op settleOp) settleArgs(nowMs int64) ([]string, []any) {
	keys := make([]string, len(op.quotas))
	for i, q := range op.quotas {
		keys[i] = q.redisKey()
	}
	dr := 0
	if !op.sent {
		dr = -1
	}
	return keys, []any{nowMs, op.d.Slot, int(op.class), op.actual - op.reserved, dr}
}

type nopObserver struct{}

func (nopObserver) StoreAvailable(bool, error)     {}
func (nopObserver) StoreCall(time.Duration, error) {}
func (nopObserver) Share(string, int64)            {}
func (nopObserver) SettleDropped()                 {}
