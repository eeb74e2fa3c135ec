package guard

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/breakwater-dev/breakwater/internal/admission"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/metrics"
)

// admissionRuntime is the admitter of one store configuration (or of none: local enforcement
// only). It outlives configs that keep the same store, so the local windows and the breaker carry
// over a reload; a changed store (address, credentials) gets a new one.
type admissionRuntime struct {
	key      string
	admitter *admission.Admitter
	client   redis.UniversalClient // nil without a store
}

// retireAfter is how long a replaced admitter keeps serving the requests that started on it.
const retireAfter = 10 * time.Minute

func (rt *admissionRuntime) close() {
	rt.admitter.Close()
	if rt.client != nil {
		_ = rt.client.Close()
	}
}

// admissionFor returns prev when the store settings and CA are unchanged, else a new runtime. The
// password file is read again every 30 s (secretFile) for each new connection, so a rotated
// Secret takes effect without a reload.
func (g *Guard) admissionFor(prev *admissionRuntime, c *guardconfig.AdmissionStore) (*admissionRuntime, error) {
	var password *secretFile
	var roots *x509.CertPool
	key := "local"
	if c != nil {
		var err error
		if c.PasswordFile != "" {
			if password, err = loadSecret(c.PasswordFile, g.log); err != nil {
				return nil, fmt.Errorf("admission.store.passwordFile: %w", err)
			}
		}
		var ca []byte
		if c.CAFile != "" {
			if ca, err = os.ReadFile(c.CAFile); err != nil {
				return nil, fmt.Errorf("admission.store.caFile: %w", err)
			}
			roots = x509.NewCertPool()
			if !roots.AppendCertsFromPEM(ca) {
				return nil, fmt.Errorf("admission.store.caFile: %s holds no PEM certificate", c.CAFile)
			}
		}
		settings, _ := json.Marshal(c)
		sum := sha256.Sum256(append(settings, ca...))
		key = hex.EncodeToString(sum[:])
	}
	if prev != nil && prev.key == key {
		return prev, nil
	}
	obs := &admissionObserver{m: g.metrics, log: g.log}
	if c == nil {
		g.metrics.AdmissionStoreUp.Set(0)
		return &admissionRuntime{key: key, admitter: admission.NewAdmitter(nil, obs, g.now)}, nil
	}
	o := &redis.UniversalOptions{
		Addrs:      c.Addresses,
		MasterName: c.MasterName,
		Username:   c.Username,
		// The request path waits at most the timeout; no retries there (the local share answers).
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialTimeout:           time.Second,
		// Warm connections, so that no reservation pays a TCP and TLS handshake within its timeout.
		MinIdleConns: 4,
	}
	if password != nil {
		username := c.Username
		o.CredentialsProvider = func() (string, string) { return username, password.Value() }
	}
	if c.TLS {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, RootCAs: roots}
	}
	client := redis.NewUniversalClient(o)
	store := admission.NewStore(client, c.Timeout.D(), g.now)
	g.metrics.AdmissionStoreUp.Set(1)
	g.log.Info("Admission store configured", "addresses", strings.Join(c.Addresses, ","), "tls", c.TLS,
		"sentinel", c.MasterName != "", "timeout", c.Timeout.D().String())
	return &admissionRuntime{key: key, admitter: admission.NewAdmitter(store, obs, g.now), client: client}, nil
}

// admissionQuotas turns the config's quotas into each endpoint's list, with the decision series of
// each quota (shared by the endpoints it covers).
func admissionQuotas(c guardconfig.Admission) (map[string][]admission.Quota, map[string][]*quotaSeries) {
	quotas, series := map[string][]admission.Quota{}, map[string][]*quotaSeries{}
	for _, q := range c.Quotas {
		aq := admission.Quota{
			Key: q.Namespace + "/" + q.Name, Namespace: q.Namespace,
			TokensPerMinute: q.TokensPerMinute, RequestsPerMinute: q.RequestsPerMinute,
			ShedPercent: q.ShedPercent, HardPercent: q.HardPercent, CriticalReservePercent: q.CriticalReservePercent,
			Enforcement: admission.Shared, Guards: q.Guards,
		}
		if q.Enforcement == guardconfig.EnforcementLocal {
			aq.Enforcement = admission.Local
		}
		qs := &quotaSeries{key: aq.Key}
		for _, e := range q.Endpoints {
			quotas[e] = append(quotas[e], aq)
			series[e] = append(series[e], qs)
		}
	}
	return quotas, series
}

// Label values of AdmissionDecisions by index, for quotaSeries.
var (
	admissionModes   = [...]string{metrics.AdmissionModeShared, metrics.AdmissionModeLocal}
	admissionResults = [...]string{metrics.AdmissionAdmitted, metrics.AdmissionRefusedShed, metrics.AdmissionRefusedLimit}
)

// quotaSeries are one quota's AdmissionDecisions series by mode and result, resolved at first use
// like a target's (series.go): no lookup by label values on the request path.
type quotaSeries struct {
	key       string
	decisions [len(admissionModes)][len(admissionResults)]lazyCounter
}

func (s *quotaSeries) decision(m *metrics.Metrics, mode, result int) prometheus.Counter {
	return s.decisions[mode][result].get(func() prometheus.Counter {
		return m.AdmissionDecisions.WithLabelValues(s.key, admissionModes[mode], admissionResults[result])
	})
}

func admissionClass(c guardconfig.Criticality) admission.Class {
	switch c {
	case guardconfig.Critical:
		return admission.Critical
	case guardconfig.Sheddable:
		return admission.Sheddable
	}
	return admission.Standard
}

// admit reserves the request's estimate against the endpoint's quotas; false means it answered
// the refusal.
func (g *Guard) admit(ctx context.Context, x *exchange, tokens int64) (admission.Ticket, bool) {
	t := x.st.admitter.Reserve(ctx, admissionClass(x.st.criticality), tokens, x.ep.quotas)
	mode := 1 // local
	if t.Mode == admission.Shared {
		mode = 0
	}
	if t.Admitted {
		for _, qs := range x.ep.quotaSeries {
			qs.decision(g.metrics, mode, 0).Inc()
		}
		return t, true
	}
	if t.Quota == "" {
		// The app went away while the store was asked: nobody to answer.
		x.outcome = metrics.OutcomeCanceled
		return t, false
	}
	result, reason := 2, ReasonAdmissionExhausted
	message := "the token quota " + t.Quota + " has no room for this request in the last minute"
	if t.Reason == admission.ReasonShed {
		result, reason = 1, ReasonAdmissionShed
		message = "the token quota " + t.Quota + " is above its shed threshold: sheddable requests wait"
	}
	for _, qs := range x.ep.quotaSeries {
		if qs.key == t.Quota {
			qs.decision(g.metrics, mode, result).Inc()
		}
	}
	setRetryAfter(x.w.Header(), time.Second)
	g.rejectModel(x, http.StatusTooManyRequests, reason, message)
	return t, false
}

// admissionObserver turns what the admitter does into metrics and log lines.
type admissionObserver struct {
	m   *metrics.Metrics
	log *slog.Logger
}

func (o *admissionObserver) StoreAvailable(up bool, err error) {
	if up {
		o.m.AdmissionStoreUp.Set(1)
		o.log.Info("Admission store available again: quotas shared across the fleet")
		return
	}
	o.m.AdmissionStoreUp.Set(0)
	o.log.Warn("Admission store unavailable: enforcing this guard's local share of each quota", "error", err)
}

func (o *admissionObserver) StoreCall(d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
		if !errors.Is(err, context.DeadlineExceeded) {
			o.log.Debug("Admission store call failed", "error", err)
		}
	}
	o.m.AdmissionStoreDuration.WithLabelValues(result).Observe(d.Seconds())
}

func (o *admissionObserver) Share(quota string, share int64) {
	o.m.AdmissionLearnedShare.WithLabelValues(quota).Set(float64(share) / admission.FullShare)
}

func (o *admissionObserver) SettleDropped() { o.m.AdmissionSettlesDropped.Inc() }
