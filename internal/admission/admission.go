// Package admission is the fleet-wide admission store: every guard of every workload a TokenQuota
// covers reserves against one shared budget in Redis before calling a provider, and settles with
// the usage the provider reported afterwards.
//
// Each quota is one Redis hash holding a sliding window of 61 one-second slots (so any 60 s
// interval lies inside the window) of tokens and requests, total and critical. One Lua script per
// operation keeps every step atomic and one round trip: reserve checks all the quotas of a request
// and takes from all or none. Keys carry the namespace as hash tag, so every quota of one request
// lives in one Redis Cluster slot.
//
// Criticality: critical requests are admitted up to the hard limit. Standard requests are admitted
// while the window's non-critical spend, plus critical traffic's demand for a minute, stays below
// the hard limit; sheddable ones the same below the shed threshold. Critical demand is the larger
// of what critical traffic spent in the window and its pace over the last 10 seconds scaled to a
// minute (which sees a new critical stream before the window does), plus the critical reserve
// share of the limit as headroom. So critical traffic whose own demand fits under the limit is not
// refused because other classes used the budget.
//
// Store loss: every key carries an epoch (when it was made). A guard that comes back to a store
// whose key has a new epoch (a Redis restarted empty) brings back its share of the fleet's spend
// it last saw, as well as what it admitted on its own, so the window is whole again.
//
// Learned limit: when a provider throttles a request the store admitted, the account's real limit
// is below the configured one (the quota is shared outside the cluster). The quota's learned share
// of its limits then drops to 90 % of the lower of the share and the fleet's usage in the window,
// at most once per 5 s, and climbs back by 3 % of the limit per minute (AIMD), for every guard at
// once since it lives in the store.
//
// The Admitter wraps the store for the guard: a per-call timeout and a breaker on the store, and
// while the store is unavailable a local share of every limit (see local.go).
package admission

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Class is a request's criticality, in the order it is refused last to first.
type Class int

// Class values, as the scripts take them.
const (
	Critical  Class = 0
	Standard  Class = 1
	Sheddable Class = 2
)

// Enforcement is where a quota is enforced.
type Enforcement string

// Enforcement values.
const (
	// Shared: against the store, across every guard; each guard's local share while it is away.
	Shared Enforcement = "shared"
	// Local: each guard enforces its local share only.
	Local Enforcement = "local"
)

// Quota is one budget a request counts against.
type Quota struct {
	// Key names the quota in the store, e.g. "team-a/bedrock-tpm".
	Key string
	// Namespace is the hash tag of the key: the quotas of one request share it.
	Namespace string
	// TokensPerMinute and RequestsPerMinute are the limits; 0 is no limit of that kind.
	TokensPerMinute, RequestsPerMinute int64
	// ShedPercent, HardPercent and CriticalReservePercent are shares of the limits.
	ShedPercent, HardPercent, CriticalReservePercent int64
	// Enforcement is shared (the default) or local.
	Enforcement Enforcement
	// Guards is the number of guards the quota covers (at least 1): a guard's local share is
	// 1/Guards of each limit.
	Guards int64
}

func (q Quota) redisKey() string { return "bw:adm:{" + q.Namespace + "}:" + q.Key }

// Learning: a throttle keeps this share of the lower of the learned share and the used share, at
// most once per cooldown, never below the floor; the share climbs back at the recovery rate.
const (
	FullShare             = 1_000_000 // shares are in millionths
	throttleKeepPercent   = 90
	throttleCooldown      = 5 * time.Second
	shareFloor            = FullShare / 20
	recoveryPpmPerSecond  = FullShare * 3 / 100 / 60
	windowSeconds         = 61
	windowDuration        = 60 * time.Second
	defaultReservePercent = 10
)

// Refusal reasons.
const (
	ReasonShed      = "admission_shed"
	ReasonExhausted = "admission_exhausted"
)

// Decision is the answer to a reservation.
type Decision struct {
	Admitted bool
	// Reason and Quota say why and by which quota a request was refused.
	Reason, Quota string
	// Slot is the window slot the reservation went into; Settle needs it.
	Slot int64
	// Shares are each quota's learned share of its limits in millionths (FullShare: none learned),
	// Used the tokens each quota's window holds, this reservation included, and Epochs when each
	// quota's key was made (a store that lost it makes it again with a new epoch).
	Shares, Used, Epochs []int64
}

//go:embed reserve.lua
var reserveSrc string

//go:embed settle.lua
var settleSrc string

//go:embed throttle.lua
var throttleSrc string

//go:embed inspect.lua
var inspectSrc string

var (
	reserveScript  = redis.NewScript(reserveSrc)
	settleScript   = redis.NewScript(settleSrc)
	throttleScript = redis.NewScript(throttleSrc)
	inspectScript  = redis.NewScript(inspectSrc)
)

// Store reserves and settles against Redis.
type Store struct {
	client  redis.UniversalClient
	timeout time.Duration
	now     func() time.Time
}

// NewStore uses client with a per-call timeout (a few milliseconds in production); now nil is
// time.Now.
func NewStore(client redis.UniversalClient, timeout time.Duration, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{client: client, timeout: timeout, now: now}
}

// Reserve takes tokens (the estimated input plus the output clamp) and one request from every
// quota, or nothing when one of them refuses.
func (s *Store) Reserve(ctx context.Context, class Class, tokens int64, quotas []Quota) (Decision, error) {
	return s.reserve(ctx, class, tokens, 0, Replay{}, quotas)
}

// Replay is what a guard brings back to a store it could not reach: what it admitted on its own
// (Tokens, Requests), and its share of the fleet's spend it last saw (SeedTokens, SeedRequests),
// which is added only when the quota's key is not the one of Epoch any more (the store lost it).
type Replay struct {
	Tokens, Requests         int64
	Epoch                    int64
	SeedTokens, SeedRequests int64
}

// Add books a replay in one quota without checking it, so that its window holds the fleet's
// spend again.
func (s *Store) Add(ctx context.Context, r Replay, q Quota) error {
	_, err := s.reserve(ctx, Standard, r.Tokens, max(r.Requests, 1), r, []Quota{q})
	return err
}

func (s *Store) reserve(ctx context.Context, class Class, tokens, force int64, r Replay, quotas []Quota) (Decision, error) {
	keys, args := reserveCall(s.now(), class, tokens, force, r, quotas)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := reserveScript.Run(ctx, s.client, keys, args...).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("admission reserve: %w", err)
	}
	if len(res) != 4+3*len(quotas) {
		return Decision{}, fmt.Errorf("admission reserve: %d values in the reply, want %d", len(res), 4+3*len(quotas))
	}
	d := Decision{Admitted: res[0] == 1, Slot: res[1]}
	for i := range quotas {
		d.Shares = append(d.Shares, res[4+3*i])
		d.Used = append(d.Used, res[5+3*i])
		d.Epochs = append(d.Epochs, res[6+3*i])
	}
	if !d.Admitted {
		d.Quota = quotas[res[2]-1].Key
		d.Reason = ReasonExhausted
		if res[3] == 1 {
			d.Reason = ReasonShed
		}
	}
	return d, nil
}

// reserveCall is the reserve script's keys and arguments.
func reserveCall(now time.Time, class Class, tokens, force int64, r Replay, quotas []Quota) ([]string, []any) {
	keys := make([]string, len(quotas))
	args := []any{now.UnixMilli(), int(class), tokens, force, strconv.FormatInt(r.Epoch, 10), r.SeedTokens, r.SeedRequests}
	for i, q := range quotas {
		keys[i] = q.redisKey()
		args = append(args, q.TokensPerMinute, q.RequestsPerMinute, q.ShedPercent, q.HardPercent, q.CriticalReservePercent,
			recoveryPpmPerSecond)
	}
	return keys, args
}

// BareReserve runs the reserve script once with the keys and arguments Reserve would send, and
// decodes nothing: the round trip a reservation costs at least, for the benchmarks' baseline.
func BareReserve(ctx context.Context, client redis.Scripter, class Class, tokens int64, quotas []Quota) error {
	keys, args := reserveCall(time.Now(), class, tokens, 0, Replay{}, quotas)
	return reserveScript.Run(ctx, client, keys, args...).Err()
}

// Settle replaces a reservation of reserved tokens by the actual usage; requestSent false also
// gives the request back (it never reached a provider).
func (s *Store) Settle(ctx context.Context, d Decision, class Class, reserved, actual int64, requestSent bool, quotas []Quota) error {
	keys := make([]string, len(quotas))
	for i, q := range quotas {
		keys[i] = q.redisKey()
	}
	dr := 0
	if !requestSent {
		dr = -1
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := settleScript.Run(ctx, s.client, keys, s.now().UnixMilli(), d.Slot, int(class), actual-reserved, dr).Err(); err != nil {
		return fmt.Errorf("admission settle: %w", err)
	}
	return nil
}

// Throttled lowers the learned share of every quota after a provider throttled a request they
// admitted, and returns the shares after the call.
func (s *Store) Throttled(ctx context.Context, quotas []Quota) ([]int64, error) {
	keys := make([]string, len(quotas))
	args := []any{s.now().UnixMilli(), throttleKeepPercent, throttleCooldown.Milliseconds(), shareFloor}
	for i, q := range quotas {
		keys[i] = q.redisKey()
		args = append(args, q.TokensPerMinute, q.RequestsPerMinute, recoveryPpmPerSecond)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := throttleScript.Run(ctx, s.client, keys, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("admission throttle: %w", err)
	}
	return res, nil
}

// Standing is what the store holds of one quota now.
type Standing struct {
	// Share is the learned share of the configured limits in millionths (FullShare: none learned).
	Share int64
	// Tokens and Requests are what the last 60 s hold, reservations included.
	Tokens, Requests int64
}

// Inspect reads a quota's standing without changing it (for the manager's status).
func (s *Store) Inspect(ctx context.Context, q Quota) (Standing, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := inspectScript.Run(ctx, s.client, []string{q.redisKey()}, s.now().UnixMilli(), recoveryPpmPerSecond).Int64Slice()
	if err != nil {
		return Standing{}, fmt.Errorf("admission inspect: %w", err)
	}
	if len(res) != 3 {
		return Standing{}, fmt.Errorf("admission inspect: %d values in the reply, want 3", len(res))
	}
	return Standing{Share: res[0], Tokens: res[1], Requests: res[2]}, nil
}

// Ping checks that the store answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.client.Ping(ctx).Err()
}
