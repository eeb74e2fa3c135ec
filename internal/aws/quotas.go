package aws

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	sqtypes "github.com/aws/aws-sdk-go-v2/service/servicequotas/types"
)

// QuotaReader reads a tokens-per-minute quota, e.g. Bedrock's
// ("bedrock", "L-…") for one model, in one region. refresh is how long a
// value read from AWS may be served before AWS is asked again (a
// TokenQuota's serviceQuota.refreshInterval); zero takes the reader's
// default.
type QuotaReader interface {
	TokensPerMinute(ctx context.Context, region, serviceCode, quotaCode string, refresh time.Duration) (Quota, error)
}

// QuotaSource says where a quota value came from.
type QuotaSource string

const (
	// QuotaApplied is the account's own value (raised or lowered from the default).
	QuotaApplied QuotaSource = "applied"
	// QuotaDefault is the AWS default, used when the account has no applied value.
	QuotaDefault QuotaSource = "default"
)

// Quota is a quota value and how much to trust it.
type Quota struct {
	Region      string
	ServiceCode string
	QuotaCode   string
	Name        string
	Value       float64
	Source      QuotaSource
	// FetchedAt is when AWS last answered for this quota.
	FetchedAt time.Time
	// Stale is set when the latest refresh failed and Value is the last
	// good one; the error of that refresh is returned alongside.
	Stale bool
}

// QuotaOptions tunes a ServiceQuotas reader; zero values take defaults.
type QuotaOptions struct {
	// Refresh is how long a fetched value is served before asking AWS
	// again, when the caller passes no refresh interval of its own. Quotas
	// change rarely (a person files an increase), and Service Quotas has
	// low request limits, so the default is 15 minutes.
	Refresh time.Duration
	// RetryAfterFailure is how long a failed read is remembered (and its
	// error returned) before AWS is asked again, so a throttled API is not
	// asked on every evaluation. Default 1 minute, never above Refresh.
	RetryAfterFailure time.Duration
	// Now is the clock; tests inject one.
	Now func() time.Time
}

// Defaults for QuotaOptions.
const (
	DefaultQuotaRefresh      = 15 * time.Minute
	DefaultRetryAfterFailure = time.Minute
)

// serviceQuotasAPI is the part of the Service Quotas client used here.
type serviceQuotasAPI interface {
	GetServiceQuota(context.Context, *servicequotas.GetServiceQuotaInput, ...func(*servicequotas.Options)) (*servicequotas.GetServiceQuotaOutput, error)
	GetAWSDefaultServiceQuota(context.Context, *servicequotas.GetAWSDefaultServiceQuotaInput, ...func(*servicequotas.Options)) (*servicequotas.GetAWSDefaultServiceQuotaOutput, error)
}

// ServiceQuotas is the QuotaReader backed by AWS Service Quotas.
type ServiceQuotas struct {
	clients    *ClientFactory
	refresh    time.Duration
	retryAfter time.Duration
	now        func() time.Time

	mu    sync.Mutex
	cache map[quotaKey]quotaEntry
}

type quotaKey struct{ region, service, code string }

// quotaEntry is what is known about one quota: the last good value, if
// any, and the last failure since it.
type quotaEntry struct {
	quota    Quota // zero FetchedAt: never read successfully
	err      error
	failedAt time.Time
}

// served is the entry as returned while its last read failed.
func (e quotaEntry) served() Quota {
	if e.quota.FetchedAt.IsZero() {
		return Quota{}
	}
	q := e.quota
	q.Stale = true
	return q
}

var _ QuotaReader = (*ServiceQuotas)(nil)

// NewServiceQuotas reads quotas through clients.
func NewServiceQuotas(clients *ClientFactory, opts QuotaOptions) *ServiceQuotas {
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultQuotaRefresh
	}
	if opts.RetryAfterFailure <= 0 {
		opts.RetryAfterFailure = DefaultRetryAfterFailure
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &ServiceQuotas{clients: clients, refresh: opts.Refresh, retryAfter: opts.RetryAfterFailure,
		now: opts.Now, cache: map[quotaKey]quotaEntry{}}
}

// TokensPerMinute returns the quota, from the cache while it is younger
// than refresh (the reader's Refresh when zero). When a refresh fails and an earlier value is
// cached, it returns that value marked Stale together with the error: a
// control loop should keep enforcing the last known limit (and say so),
// not drop the limit because AWS throttled a read. A failure is remembered
// for RetryAfterFailure: within it the same stale value and error are
// returned without calling AWS.
//
// Concurrent misses for one quota may each call AWS; callers are control
// loops reading a handful of quotas, so that is cheaper than coordination.
func (r *ServiceQuotas) TokensPerMinute(ctx context.Context, region, serviceCode, quotaCode string, refresh time.Duration) (Quota, error) {
	key := quotaKey{region, serviceCode, quotaCode}
	now := r.now()
	if refresh <= 0 {
		refresh = r.refresh
	}
	retryAfter := min(r.retryAfter, refresh)
	r.mu.Lock()
	e := r.cache[key]
	r.mu.Unlock()
	switch {
	case e.err != nil && now.Sub(e.failedAt) < retryAfter:
		return e.served(), e.err
	case e.err == nil && !e.quota.FetchedAt.IsZero() && now.Sub(e.quota.FetchedAt) < refresh:
		return e.quota, nil
	}

	q, err := r.fetch(ctx, key)
	if err != nil {
		e.err, e.failedAt = err, now
	} else {
		q.FetchedAt = now
		e = quotaEntry{quota: q}
	}
	r.mu.Lock()
	r.cache[key] = e
	r.mu.Unlock()
	if err != nil {
		return e.served(), err
	}
	return q, nil
}

// fetch asks for the applied value, then for the AWS default when the
// account has none (Service Quotas answers NoSuchResourceException).
func (r *ServiceQuotas) fetch(ctx context.Context, key quotaKey) (Quota, error) {
	subject := "quota " + key.service + "/" + key.code
	c, err := r.clients.For(key.region)
	if err != nil {
		return Quota{}, &Error{Op: "servicequotas:GetServiceQuota", Region: key.region, Subject: subject, Err: err}
	}
	return fetchQuota(ctx, c.ServiceQuotas, key)
}

func fetchQuota(ctx context.Context, api serviceQuotasAPI, key quotaKey) (Quota, error) {
	subject := "quota " + key.service + "/" + key.code
	out, err := api.GetServiceQuota(ctx, &servicequotas.GetServiceQuotaInput{
		ServiceCode: awssdk.String(key.service),
		QuotaCode:   awssdk.String(key.code),
	})
	if err == nil {
		return toQuota(key, out.Quota, QuotaApplied, "servicequotas:GetServiceQuota")
	}
	var none *sqtypes.NoSuchResourceException
	if !errors.As(err, &none) {
		return Quota{}, newError("servicequotas:GetServiceQuota", key.region, subject, err)
	}

	def, err := api.GetAWSDefaultServiceQuota(ctx, &servicequotas.GetAWSDefaultServiceQuotaInput{
		ServiceCode: awssdk.String(key.service),
		QuotaCode:   awssdk.String(key.code),
	})
	if err != nil {
		e := newError("servicequotas:GetAWSDefaultServiceQuota", key.region, subject, err)
		if errors.As(err, &none) {
			e.Kind = ErrNotFound
		}
		return Quota{}, e
	}
	return toQuota(key, def.Quota, QuotaDefault, "servicequotas:GetAWSDefaultServiceQuota")
}

// toQuota checks the reply really is a per-minute value: a per-day quota
// code configured by mistake must fail loudly, not be read as 1440 times
// too generous a per-minute limit.
func toQuota(key quotaKey, sq *sqtypes.ServiceQuota, src QuotaSource, op string) (Quota, error) {
	subject := "quota " + key.service + "/" + key.code
	if sq == nil || sq.Value == nil {
		return Quota{}, &Error{Op: op, Region: key.region, Subject: subject, Err: errors.New("reply has no quota value")}
	}
	if p := sq.Period; p != nil && (p.PeriodUnit != sqtypes.PeriodUnitMinute || p.PeriodValue == nil || *p.PeriodValue != 1) {
		n := int32(0)
		if p.PeriodValue != nil {
			n = *p.PeriodValue
		}
		return Quota{}, &Error{Op: op, Region: key.region, Subject: subject,
			Err: fmt.Errorf("quota is per %d %s, not per minute", n, p.PeriodUnit)}
	}
	return Quota{
		Region:      key.region,
		ServiceCode: key.service,
		QuotaCode:   key.code,
		Name:        awssdk.ToString(sq.QuotaName),
		Value:       *sq.Value,
		Source:      src,
	}, nil
}
