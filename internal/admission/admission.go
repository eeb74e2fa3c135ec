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
// Criticality: with reserve = the critical reserve share of the limit not yet used by critical
// traffic in the window, critical requests are admitted up to the hard limit, standard ones up to
// the hard limit minus that reserve, sheddable ones up to the shed limit minus that reserve. So
// critical traffic always finds at least the reserve, whatever the other classes did.
//
// TODO(#12): learned limit (AIMD on provider throttles), the breaker and local fallback share, the
// guard hook, guardconfig/render, the TokenQuota fields and the end-to-end tests are not built yet.
package admission

import (
	"context"
	_ "embed"
	"fmt"
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
}

func (q Quota) redisKey() string { return "bw:adm:{" + q.Namespace + "}:" + q.Key }

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
}

//go:embed reserve.lua
var reserveSrc string

//go:embed settle.lua
var settleSrc string

var (
	reserveScript = redis.NewScript(reserveSrc)
	settleScript  = redis.NewScript(settleSrc)
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
	keys := make([]string, len(quotas))
	args := []any{s.now().UnixMilli(), int(class), tokens}
	for i, q := range quotas {
		keys[i] = q.redisKey()
		args = append(args, q.TokensPerMinute, q.RequestsPerMinute, q.ShedPercent, q.HardPercent, q.CriticalReservePercent)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := reserveScript.Run(ctx, s.client, keys, args...).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("admission reserve: %w", err)
	}
	d := Decision{Admitted: res[0] == 1, Slot: res[1]}
	if !d.Admitted {
		d.Quota = quotas[res[2]-1].Key
		d.Reason = ReasonExhausted
		if res[3] == 1 {
			d.Reason = ReasonShed
		}
	}
	return d, nil
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
