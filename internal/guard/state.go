package guard

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/breakwater-dev/breakwater/internal/admission"
	"github.com/breakwater-dev/breakwater/internal/guard/breaker"
	"github.com/breakwater-dev/breakwater/internal/guard/provider"
	"github.com/breakwater-dev/breakwater/internal/guard/provider/registry"
	"github.com/breakwater-dev/breakwater/internal/guard/quota"
	"github.com/breakwater-dev/breakwater/internal/guard/retry"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/metrics"
)

func defaultRand() float64 { return rand.Float64() }

// state is one compiled config. It is never modified after compile; requests read it freely.
type state struct {
	criticality guardconfig.Criticality
	quota       guardconfig.Quota
	bucket      *quota.Bucket       // nil: no local allowance
	admitter    *admission.Admitter // nil: no admission quotas
	endpoints   map[string]*endpoint
	backends    map[string]*backend
}

type endpoint struct {
	cfg         guardconfig.Endpoint
	proto       provider.Model
	weighted    []*target
	totalWeight int
	fallback    []*target // weight 0: only after the weighted ones
	policy      retryPolicy
	series      *series           // of requests that reached no target (target "")
	quotas      []admission.Quota // fleet-wide admission quotas covering this endpoint
	quotaSeries []*quotaSeries    // their decision series, in the same order
}

// soonestProbe is how long until the first of the endpoint's open breakers lets a probe through.
func (e *endpoint) soonestProbe() time.Duration {
	var soonest time.Duration
	for _, ts := range [][]*target{e.weighted, e.fallback} {
		for _, t := range ts {
			if d := t.breaker.OpenFor(); d > 0 && (soonest == 0 || d < soonest) {
				soonest = d
			}
		}
	}
	return soonest
}

type target struct {
	cfg         guardconfig.Target
	endpoint    string
	up          provider.Target // what the endpoint's provider needs of it
	model       string          // gen_ai_request_model label
	breaker     *breaker.Breaker
	inPerToken  float64
	outPerToken float64
	series      *series
}

type backend struct {
	cfg           guardconfig.RetrievalBackend
	proto         provider.Retrieval
	base          *url.URL
	authorization *secretFile // nil: none
	breaker       *breaker.Breaker
	policy        retryPolicy
	cache         *answerCache
	series        *series // endpoint and target labels both the backend's name
}

// protections are the stateful parts that outlive a config: breakers and budgets keyed by
// endpoint/target, the quota bucket and retrieval caches. Keyed with their settings so a changed
// policy starts fresh while an unchanged one (the common case: a weight shift) carries over.
type protections struct {
	breakers  map[string]sharedBreaker
	budgets   map[string]sharedBudget
	caches    map[string]*answerCache
	bucket    *quota.Bucket
	admission *admissionRuntime
}

type sharedBreaker struct {
	settings       breaker.Settings
	b              *breaker.Breaker
	endpoint, name string
}

type sharedBudget struct {
	ratio  float64
	min    int
	window time.Duration
	b      *retry.Budget
}

func newProtections() *protections {
	return &protections{breakers: map[string]sharedBreaker{}, budgets: map[string]sharedBudget{}, caches: map[string]*answerCache{}}
}

// retire drops the circuit-state series of breakers that the next config no longer has, and
// closes a replaced admitter once the requests that started on it are done.
func (p *protections) retire(next *protections, m *metrics.Metrics) {
	if old := p.admission; old != nil && old != next.admission {
		time.AfterFunc(retireAfter, old.close)
	}
	for key, old := range p.breakers {
		if _, ok := next.breakers[key]; !ok {
			m.CircuitState.DeleteLabelValues(old.endpoint, old.name)
		}
	}
}

// compile turns a validated config into a state, reusing protections from the current one. It
// reads key files, so a reload is also how a rotated Secret takes effect.
func (g *Guard) compile(c *guardconfig.Config) (*state, *protections, error) {
	prev := g.protections
	next := newProtections()
	st := &state{
		criticality: c.Workload.Criticality,
		quota:       c.Quota,
		endpoints:   map[string]*endpoint{},
		backends:    map[string]*backend{},
	}
	if c.Quota.TokensPerMinute > 0 {
		if prev.bucket != nil {
			prev.bucket.SetRate(c.Quota.TokensPerMinute)
			next.bucket = prev.bucket
		} else {
			next.bucket = quota.NewBucket(c.Quota.TokensPerMinute, g.now)
		}
		st.bucket = next.bucket
	}
	for ei, ec := range c.Endpoints {
		ep := &endpoint{
			cfg:    ec,
			policy: newRetryPolicy(ec.Retry, g.budget(prev, next, "m/"+ec.Name, ec.Retry)),
		}
		proto, err := registry.Model(ec.Provider)
		if err != nil {
			return nil, nil, fmt.Errorf("endpoints[%d].provider: %w", ei, err)
		}
		ep.proto = proto
		ep.series = newSeries(g.metrics, ec.Name, "", proto.Name(), "")
		for i, tc := range ec.Targets {
			t, err := g.compileTarget(prev, next, ec, proto, tc)
			if err != nil {
				return nil, nil, fmt.Errorf("endpoints[%d].targets[%d]: %w", ei, i, err)
			}
			t.series = newSeries(g.metrics, ec.Name, tc.Name, proto.Name(), t.model)
			if tc.Weight > 0 {
				ep.weighted = append(ep.weighted, t)
				ep.totalWeight += tc.Weight
			} else {
				ep.fallback = append(ep.fallback, t)
			}
		}
		st.endpoints[ec.Name] = ep
	}
	if len(c.Admission.Quotas) > 0 {
		rt, err := g.admissionFor(prev.admission, c.Admission.Store)
		if err != nil {
			return nil, nil, err
		}
		next.admission, st.admitter = rt, rt.admitter
		quotas, series := admissionQuotas(c.Admission)
		for name, qs := range quotas {
			st.endpoints[name].quotas, st.endpoints[name].quotaSeries = qs, series[name]
		}
	}
	for i, bc := range c.RetrievalBackends {
		base, err := url.Parse(strings.TrimRight(bc.URL, "/"))
		if err != nil {
			return nil, nil, fmt.Errorf("retrievalBackends[%d].url: %w", i, err)
		}
		proto, err := registry.Retrieval(bc)
		if err != nil {
			return nil, nil, fmt.Errorf("retrievalBackends[%d].type: %w", i, err)
		}
		b := &backend{
			cfg:     bc,
			proto:   proto,
			base:    base,
			breaker: g.breaker(prev, next, "r/"+bc.Name, bc.Name, bc.Name, bc.Breaker),
			policy:  newRetryPolicy(bc.Retry, g.budget(prev, next, "r/"+bc.Name, bc.Retry)),
			series:  newSeries(g.metrics, bc.Name, bc.Name, "", ""),
		}
		if bc.AuthorizationFile != "" {
			if b.authorization, err = loadSecret(bc.AuthorizationFile, g.log); err != nil {
				return nil, nil, fmt.Errorf("retrievalBackends[%d].authorizationFile: %w", i, err)
			}
		}
		if bc.OnFailure == guardconfig.Cache {
			b.cache = prev.caches[bc.Name]
			if b.cache == nil {
				b.cache = newAnswerCache(256, 10*time.Minute, g.now)
			}
			next.caches[bc.Name] = b.cache
		}
		st.backends[bc.Name] = b
	}
	return st, next, nil
}

func (g *Guard) compileTarget(prev, next *protections, ec guardconfig.Endpoint, proto provider.Model, tc guardconfig.Target) (*target, error) {
	raw := tc.URL
	if raw == "" {
		raw = proto.DefaultURL(tc.Region)
	}
	base, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	t := &target{
		cfg:         tc,
		endpoint:    ec.Name,
		up:          provider.Target{Base: base, ModelID: tc.ModelID, EndpointName: tc.EndpointName, Region: tc.Region},
		model:       tc.ModelID,
		inPerToken:  tc.Prices.InputPer1K.PerToken(),
		outPerToken: tc.Prices.OutputPer1K.PerToken(),
		breaker:     g.breaker(prev, next, "m/"+ec.Name+"/"+tc.Name, ec.Name, tc.Name, ec.Breaker),
	}
	if t.model == "" {
		t.model = tc.EndpointName
	}
	if tc.APIKeyFile != "" {
		key, err := loadSecret(tc.APIKeyFile, g.log)
		if err != nil {
			return nil, fmt.Errorf("apiKeyFile: %w", err)
		}
		t.up.APIKey = key
	}
	return t, nil
}

func breakerSettings(c guardconfig.Breaker) breaker.Settings {
	consecutive := c.ConsecutiveFailures
	if consecutive < 0 {
		consecutive = 0
	}
	return breaker.Settings{
		Window:              c.Window.D(),
		MinRequests:         c.MinRequests,
		FailureRatio:        c.FailureRatio,
		ConsecutiveFailures: consecutive,
		OpenDuration:        c.OpenDuration.D(),
		HalfOpenProbes:      c.HalfOpenProbes,
	}
}

func (g *Guard) breaker(prev, next *protections, key, endpoint, name string, c guardconfig.Breaker) *breaker.Breaker {
	s := breakerSettings(c)
	if old, ok := prev.breakers[key]; ok && old.settings == s {
		next.breakers[key] = old
		return old.b
	}
	b := breaker.New(s, g.now)
	gauge := g.metrics.CircuitState.WithLabelValues(endpoint, name)
	gauge.Set(metrics.CircuitClosed)
	log := g.log
	b.OnStateChange(func(from, to breaker.State) {
		switch to {
		case breaker.Open:
			gauge.Set(metrics.CircuitOpen)
		case breaker.HalfOpen:
			gauge.Set(metrics.CircuitHalfOpen)
		default:
			gauge.Set(metrics.CircuitClosed)
		}
		log.Warn("Circuit breaker changed state", "endpoint", endpoint, "target", name, "from", from.String(), "to", to.String())
	})
	next.breakers[key] = sharedBreaker{settings: s, b: b, endpoint: endpoint, name: name}
	return b
}

func (g *Guard) budget(prev, next *protections, key string, c guardconfig.Retry) *retry.Budget {
	sb := sharedBudget{ratio: *c.BudgetRatio, min: *c.MinRetries, window: c.BudgetWindow.D()}
	if old, ok := prev.budgets[key]; ok && old.ratio == sb.ratio && old.min == sb.min && old.window == sb.window {
		next.budgets[key] = old
		return old.b
	}
	sb.b = retry.NewBudget(sb.ratio, sb.min, sb.window, g.now)
	next.budgets[key] = sb
	return sb.b
}

// order returns the targets to try for one request: the weighted ones in a weighted random order
// (so traffic splits by weight and a retry moves to another target), then the weight-0 fallbacks
// in config order.
func (e *endpoint) order(rnd func() float64) []*target {
	out := make([]*target, 0, len(e.weighted)+len(e.fallback))
	rem := append([]*target(nil), e.weighted...)
	total := e.totalWeight
	for len(rem) > 0 {
		x := rnd() * float64(total)
		i := 0
		for ; i < len(rem)-1; i++ {
			x -= float64(rem[i].cfg.Weight)
			if x < 0 {
				break
			}
		}
		out = append(out, rem[i])
		total -= rem[i].cfg.Weight
		rem = append(rem[:i], rem[i+1:]...)
	}
	return append(out, e.fallback...)
}
