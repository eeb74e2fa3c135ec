package promsource

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Source is what the control loops read: one figure over a scope, evaluated at the current time.
// A key missing from a Result means Prometheus had no data for it; it never means zero. Each loop
// asks for the figures it needs by name, so a test's fake answers one method.
type Source interface {
	// Query evaluates figure (one of the Query* names of the per-target figures) over s.
	Query(ctx context.Context, figure Figure, s Scope) (Result[Key], error)
}

// Figure names a per-target (or, with Scope.SumTargets, per-endpoint) figure: QueryRequestRate,
// QueryAttemptRate, QueryErrorRatio, QueryThrottleRatio, QueryLatencyP99, QueryTokensPerMinute,
// QueryCostPerMinute, QueryTokensToday or QueryCostToday.
type Figure = string

// Scope chooses the series a query reads and the window it measures over.
type Scope struct {
	// Namespace keeps guards of this namespace only (the namespace label the scrape job sets).
	// Empty: every namespace.
	Namespace string
	// Endpoints keeps these ModelEndpoints (or RetrievalBackends) only. Empty: all of them.
	Endpoints []string
	// Window is the range rates are taken over; it must hold at least two scrapes.
	Window time.Duration
	// SumTargets adds an endpoint's targets together: keys then have an empty Target. The workload
	// queries ignore it.
	SumTargets bool
}

// Key names a group of the per-target queries.
type Key struct {
	// Namespace is "" when the scrape job sets no namespace label.
	Namespace string
	Endpoint  string
	// Target is "" for requests the guard refused before choosing a target, and with SumTargets.
	Target string
}

// WorkloadKey names a GenAIWorkload.
type WorkloadKey struct {
	Namespace string
	Workload  string
}

// Result is one query's values. Warnings are what the Prometheus API reported alongside them (for
// example a partial answer from a federated or managed backend): the values are usable but the
// caller should surface the warnings, e.g. in a condition message or a log.
type Result[K comparable] struct {
	Values   map[K]float64
	Warnings []string
}

// Get returns the value of k and whether there was one.
func (r Result[K]) Get(k K) (float64, bool) {
	v, ok := r.Values[k]
	return v, ok
}

// DefaultTimeout bounds one query when Config.Timeout is zero: the control loops run every few
// seconds, and a slow Prometheus must degrade a decision, not stall every loop.
const DefaultTimeout = 10 * time.Second

// Config of a Client.
type Config struct {
	// URL of the Prometheus-compatible API, without /api/v1 (for Amazon Managed Service for
	// Prometheus: https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>).
	URL string
	// Timeout of one query, enforced by the client and passed to the server. Default DefaultTimeout.
	Timeout time.Duration
	// SigV4 signs every request when set (Amazon Managed Service for Prometheus).
	SigV4 *SigV4Config
	// Transport under the signer; nil uses api.DefaultRoundTripper.
	Transport http.RoundTripper
}

// Client is the Source backed by a Prometheus-compatible query API.
type Client struct {
	api     v1.API
	timeout time.Duration
	// now is the evaluation time of every query; tests replace it.
	now func() time.Time
}

var _ Source = (*Client)(nil)

// New returns a Client for cfg. It does not contact the server: an unreachable Prometheus is an
// error of each query, so that the caller can report it per decision.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("promsource: no Prometheus URL")
	}
	rt := cfg.Transport
	if rt == nil {
		rt = api.DefaultRoundTripper
	}
	if cfg.SigV4 != nil {
		signed, err := NewSigV4RoundTripper(rt, *cfg.SigV4)
		if err != nil {
			return nil, err
		}
		rt = signed
	}
	c, err := api.NewClient(api.Config{Address: cfg.URL, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("promsource: Prometheus URL %q: %w", cfg.URL, err)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{api: v1.NewAPI(c), timeout: timeout, now: time.Now}, nil
}

// RequestRate is requests per second.
func (c *Client) RequestRate(ctx context.Context, s Scope) (Result[Key], error) {
	return c.Query(ctx, QueryRequestRate, s)
}

// AttemptRate is upstream attempts per second, retries and fallbacks included.
func (c *Client) AttemptRate(ctx context.Context, s Scope) (Result[Key], error) {
	return c.Query(ctx, QueryAttemptRate, s)
}

// ErrorRatio is the fraction (0 to 1) of upstream attempts that ended in one of ErrorOutcomes.
func (c *Client) ErrorRatio(ctx context.Context, s Scope) (Result[Key], error) {
	return c.Query(ctx, QueryErrorRatio, s)
}

// ThrottleRatio is the fraction (0 to 1) of upstream attempts the target throttled.
func (c *Client) ThrottleRatio(ctx context.Context, s Scope) (Result[Key], error) {
	return c.Query(ctx, QueryThrottleRatio, s)
}

// LatencyP99 is the 99th percentile of request duration in seconds (+Inf above 81.92s).
func (c *Client) LatencyP99(ctx context.Context, s Scope) (Result[Key], error) {
	return c.Query(ctx, QueryLatencyP99, s)
}

// TokensPerMinute is input plus output tokens per minute.
func (c *Client) TokensPerMinute(ctx context.Context, s Scope) (Result[Key], error) {
	return c.Query(ctx, QueryTokensPerMinute, s)
}

// CostPerMinute is US dollars per minute.
func (c *Client) CostPerMinute(ctx context.Context, s Scope) (Result[Key], error) {
	return c.Query(ctx, QueryCostPerMinute, s)
}

// WorkloadTokensPerMinute is input plus output tokens per minute per GenAIWorkload.
func (c *Client) WorkloadTokensPerMinute(ctx context.Context, s Scope) (Result[WorkloadKey], error) {
	return queryWorkloads(ctx, c, QueryWorkloadTokensPerMinute, s, WorkloadTokensPerMinuteQuery)
}

// WorkloadCostPerMinute is US dollars per minute per GenAIWorkload.
func (c *Client) WorkloadCostPerMinute(ctx context.Context, s Scope) (Result[WorkloadKey], error) {
	return queryWorkloads(ctx, c, QueryWorkloadCostPerMinute, s, WorkloadCostPerMinuteQuery)
}

// TokensToday is input plus output tokens since 00:00 UTC. s.Window is ignored: the window runs
// from 00:00 UTC of the evaluation time (DayWindow).
func (c *Client) TokensToday(ctx context.Context, s Scope) (Result[Key], error) {
	return c.Query(ctx, QueryTokensToday, s)
}

// CostToday is US dollars since 00:00 UTC, with the window of TokensToday.
func (c *Client) CostToday(ctx context.Context, s Scope) (Result[Key], error) {
	return c.Query(ctx, QueryCostToday, s)
}

// figures are the per-target figures Query answers: the PromQL of each, and whether its window
// runs from 00:00 UTC (DayWindow) instead of the scope's.
var figures = map[Figure]struct {
	build func(Scope) string
	today bool
}{
	QueryRequestRate:     {build: RequestRateQuery},
	QueryAttemptRate:     {build: AttemptRateQuery},
	QueryErrorRatio:      {build: ErrorRatioQuery},
	QueryThrottleRatio:   {build: ThrottleRatioQuery},
	QueryLatencyP99:      {build: LatencyP99Query},
	QueryTokensPerMinute: {build: TokensPerMinuteQuery},
	QueryCostPerMinute:   {build: CostPerMinuteQuery},
	QueryTokensToday:     {build: TokensTodayQuery, today: true},
	QueryCostToday:       {build: CostTodayQuery, today: true},
}

// Query implements Source.
func (c *Client) Query(ctx context.Context, figure Figure, s Scope) (Result[Key], error) {
	f, ok := figures[figure]
	switch {
	case !ok:
		return Result[Key]{}, fmt.Errorf("promsource: no per-target figure %q", figure)
	case f.today:
		return queryToday(ctx, c, figure, s, f.build)
	default:
		return queryKeys(ctx, c, figure, s, f.build)
	}
}

// queryToday evaluates a usage-today query with the window from 00:00 UTC of the evaluation time.
func queryToday(ctx context.Context, c *Client, name string, s Scope, build func(Scope) string) (Result[Key], error) {
	at := c.now()
	s.Window = DayWindow(at)
	return queryKeysAt(ctx, c, name, s, at, build)
}

func queryKeys(ctx context.Context, c *Client, name string, s Scope, build func(Scope) string) (Result[Key], error) {
	return queryKeysAt(ctx, c, name, s, c.now(), build)
}

func queryKeysAt(ctx context.Context, c *Client, name string, s Scope, at time.Time, build func(Scope) string) (Result[Key], error) {
	return query(ctx, c, name, s, at, build, func(m model.Metric) Key {
		return Key{
			Namespace: string(m[labelNamespace]),
			Endpoint:  string(m[labelEndpoint]),
			Target:    string(m[labelTarget]),
		}
	})
}

func queryWorkloads(ctx context.Context, c *Client, name string, s Scope, build func(Scope) string) (Result[WorkloadKey], error) {
	return query(ctx, c, name, s, c.now(), build, func(m model.Metric) WorkloadKey {
		return WorkloadKey{Namespace: string(m[labelNamespace]), Workload: string(m[labelWorkload])}
	})
}

// query evaluates one instant query and turns its vector into a Result. Errors name the query, not
// its PromQL, so that they fit in a condition message; the PromQL is in queries.go.
func query[K comparable](ctx context.Context, c *Client, name string, s Scope, at time.Time, build func(Scope) string, key func(model.Metric) K) (Result[K], error) {
	if s.Window <= 0 {
		return Result[K]{}, fmt.Errorf("promsource: %s: window must be positive, got %s", name, s.Window)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	value, warnings, _, err := c.api.Query(ctx, build(s), at, v1.WithTimeout(serverTimeout(c.timeout)))
	if err != nil {
		return Result[K]{}, fmt.Errorf("promsource: %s: %w", name, err)
	}
	vector, ok := value.(model.Vector)
	if !ok {
		return Result[K]{}, fmt.Errorf("promsource: %s: Prometheus answered a %s, want a vector", name, value.Type())
	}
	r := Result[K]{Values: make(map[K]float64, len(vector)), Warnings: warnings}
	for _, sample := range vector {
		v := float64(sample.Value)
		// The queries already drop NaN; a backend that returns one anyway has no data, not a value.
		if math.IsNaN(v) {
			continue
		}
		r.Values[key(sample.Metric)] = v
	}
	return r, nil
}

// serverTimeout is the query timeout handed to Prometheus. The client formats it with
// time.Duration.String, and Prometheus does not parse fractions such as "1.5s", so it is cut to whole
// seconds (or whole milliseconds below one second).
func serverTimeout(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Truncate(time.Second)
	}
	return max(d.Truncate(time.Millisecond), time.Millisecond)
}
