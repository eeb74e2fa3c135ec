// Package guard is the Breakwater sidecar proxy: it sits between an application and its model
// endpoints (/m/{endpoint}/...) and retrieval backends (/r/{backend}/...), checks limits and quota
// before any upstream call, retries within a budget, breaks circuits per target, fails over across
// targets, relays streams unbuffered and counts every token the providers report.
//
// Configuration is compiled into an immutable runtime state held in an atomic pointer. A request
// loads the pointer once and finishes on that state, so a reload never changes a request midway;
// breakers, retry budgets and the quota bucket of what still exists are carried from one state to
// the next, so a reload (for example a weight shift by the manager) never resets protection.
package guard

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/breakwater-dev/breakwater/internal/guard/breaker"
	"github.com/breakwater-dev/breakwater/internal/guard/provider"
	"github.com/breakwater-dev/breakwater/internal/guard/provider/registry"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/metrics"
)

// Options configure a Guard.
type Options struct {
	// Logger receives structured logs; never request or answer content. Default: discard.
	Logger *slog.Logger
	// Metrics are where the guard counts; required (metrics.Register on a registry of your own).
	Metrics *metrics.Metrics
	// AWSCredentials sign Bedrock and SageMaker requests (usually from config.LoadDefaultConfig:
	// env, IRSA web identity, Pod Identity). When nil, AWS targets answer 503 credentials_unavailable.
	AWSCredentials aws.CredentialsProvider
	// Transport carries upstream requests. Default: a tuned clone of http.DefaultTransport.
	Transport http.RoundTripper
	// Now is the clock of breakers, budgets and buckets. Default time.Now.
	Now func() time.Time
	// Rand returns numbers in [0, 1) for weighted routing and jitter. Default math/rand/v2.
	Rand func() float64
}

// Guard is the proxy. It is an http.Handler for the app-facing listener; Admin serves the
// admin listener. Create it with New, then Load a config.
type Guard struct {
	log     *slog.Logger
	metrics *metrics.Metrics
	auth    provider.Auth
	client  *http.Client
	now     func() time.Time
	rand    func() float64

	state atomic.Pointer[state]

	// mu serialises loads; the protections below are only touched while holding it.
	mu          sync.Mutex
	protections *protections
}

// New returns a Guard with no config: it answers 503 not_ready until a config is loaded.
func New(o Options) *Guard {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		panic("guard.New: Options.Metrics is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = defaultRand
	}
	if o.Transport == nil {
		o.Transport = defaultTransport()
	}
	return &Guard{
		log:         o.Logger,
		metrics:     o.Metrics,
		auth:        provider.Auth{Credentials: o.AWSCredentials, Signer: v4.NewSigner(), Now: o.Now},
		client:      &http.Client{Transport: o.Transport, CheckRedirect: noRedirects},
		now:         o.Now,
		rand:        o.Rand,
		protections: newProtections(),
	}
}

// noRedirects hands a redirect back to the app as it is: following one would re-send a signed
// request or an API key to a place the config never named.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func defaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	// The guard asks for identity encoding itself; Go must not add gzip and buffer to decode it.
	t.DisableCompression = true
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	// HTTP/2 where the provider offers it over TLS (ForceAttemptHTTP2, from the default): many
	// requests share a connection, so a silently dead one must be found by pings, not by the
	// requests stuck on it.
	t.HTTP2 = &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second}
	return t
}

// Ready reports whether a valid config has been loaded.
func (g *Guard) Ready() bool { return g.state.Load() != nil }

// Load parses, validates and applies a config document. A bad document is refused, counted in
// breakwater_guard_config_reloads_total{result="failure"} and logged without its content; the
// last good config stays in force. Loading the same bytes again re-reads key files.
func (g *Guard) Load(data []byte) error {
	c, err := guardconfig.Parse(data)
	if err == nil {
		err = g.Apply(c)
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:8])
	if err != nil {
		g.metrics.ConfigReloads.WithLabelValues("failure").Inc()
		g.log.Error("Refused guard config, keeping the last good one", "configHash", hash, "error", err)
		return err
	}
	g.metrics.ConfigReloads.WithLabelValues("success").Inc()
	g.metrics.ConfigLastReload.Set(float64(g.now().Unix()))
	g.log.Info("Loaded guard config", "configHash", hash, "endpoints", len(c.Endpoints),
		"retrievalBackends", len(c.RetrievalBackends), "quotaState", c.Quota.State)
	return nil
}

// Apply compiles a parsed, validated config and swaps it in atomically.
func (g *Guard) Apply(c *guardconfig.Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	st, next, err := g.compile(c)
	if err != nil {
		return err
	}
	g.state.Store(st)
	if st.bucket != nil {
		g.metrics.QuotaAvailable.Set(float64(st.bucket.Available()))
	} else {
		g.metrics.QuotaAvailable.Set(0)
	}
	g.protections.retire(next, g.metrics)
	g.protections = next
	return nil
}

// ServeHTTP routes an app request.
func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.metrics.InFlight.Inc()
	defer g.metrics.InFlight.Dec()
	st := g.state.Load()
	path := r.URL.EscapedPath()
	kind, name, rest := splitRoute(path)
	if st == nil {
		writeError(w, protocolFor(kind, st, name, rest), http.StatusServiceUnavailable, ReasonNotReady, "the guard has no valid config yet")
		g.metrics.RejectionsTotal.WithLabelValues("", ReasonNotReady).Inc()
		return
	}
	switch kind {
	case "m":
		if ep := st.endpoints[name]; ep != nil {
			g.serveModel(w, r, st, ep, rest)
			return
		}
	case "r":
		if b := st.backends[name]; b != nil {
			g.serveRetrieval(w, r, b, rest)
			return
		}
	}
	g.log.Debug("Unknown route", "method", r.Method, "path", logPath(path), "protocol", r.Proto)
	writeError(w, protocolFor(kind, st, name, rest), http.StatusNotFound, ReasonUnknownRoute,
		"no endpoint or retrieval backend is configured for this path; use /m/{endpoint}/... or /r/{backend}/...")
	g.metrics.RejectionsTotal.WithLabelValues("", ReasonUnknownRoute).Inc()
}

// splitRoute splits "/m/name/rest..." into "m", "name", "rest..." (rest still escaped). Slashes
// after the name are dropped: SDKs given a base URL ending in "/" ask for /m/name//model/...
func splitRoute(escapedPath string) (kind, name, rest string) {
	p := strings.TrimPrefix(escapedPath, "/")
	kind, p, ok := strings.Cut(p, "/")
	if !ok || (kind != "m" && kind != "r") {
		return "", "", ""
	}
	name, rest, _ = strings.Cut(p, "/")
	return kind, name, strings.TrimLeft(rest, "/")
}

// protocolFor is the protocol to answer an error in for a path the guard will not serve: the
// endpoint's or backend's own, else the one whose operation the path names.
func protocolFor(kind string, st *state, name, rest string) errorWriter {
	if st != nil && kind == "m" {
		if ep := st.endpoints[name]; ep != nil {
			return ep.proto
		}
	}
	if kind == "r" {
		if st != nil {
			if b := st.backends[name]; b != nil {
				return b.proto
			}
		}
		return registry.RetrievalFallback()
	}
	p, _ := registry.ForPath(rest)
	return p
}

// logPath bounds a path for a debug line: paths carry endpoint names and model IDs, never
// content, but an app may send anything.
func logPath(p string) string {
	const maxLen = 256
	if len(p) > maxLen {
		return p[:maxLen] + "..."
	}
	return p
}

// Admin returns the admin listener's handler: /metrics from gatherer, /healthz (the process
// serves) and /readyz (a valid config is loaded).
func (g *Guard) Admin(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	// Breakers move from open to half-open by time alone; ask each for its state before a scrape
	// so the circuit-state gauge is as of now, not as of the last request.
	current := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		g.refreshCircuits()
		return gatherer.Gather()
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(current, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !g.Ready() {
			http.Error(w, "no valid config loaded yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// refreshCircuits asks every breaker for its state, which moves an open one whose open duration
// has passed to half-open and so updates its gauge through OnStateChange.
func (g *Guard) refreshCircuits() {
	g.mu.Lock()
	breakers := make([]*breaker.Breaker, 0, len(g.protections.breakers))
	for _, sb := range g.protections.breakers {
		breakers = append(breakers, sb.b)
	}
	g.mu.Unlock()
	for _, b := range breakers {
		b.State()
	}
}

// The causes the per-attempt watchdog cancels with, to tell its timeouts from other ends.
var (
	errFirstTokenTimeout = errors.New("first token timeout")
	errStreamIdleTimeout = errors.New("stream idle timeout")
)
