package upstreamsim

import (
	"net/http"
	"sync"
	"time"
)

// Quota is a provider quota the simulator enforces the way Amazon Bedrock counts it (the user
// guide's "How tokens are counted"): per server, which plays one Region; a request reserves its
// input tokens plus its max output tokens when it starts, and is settled to the tokens it really
// used when its answer completes; tokens and requests count over a rolling minute. A request that
// does not fit is throttled in the provider's own shape (HTTP 429, ThrottlingException / OpenAI
// rate_limit_exceeded) before any work. The limits are hidden from clients: a test sets them to
// play an account quota that the cluster does not know, or shares with others.
type Quota struct {
	TokensPerMinute   int64 // 0: no token limit
	RequestsPerMinute int64 // 0: no request limit
	// MaxOutputTokens is what a request that sets no max_tokens reserves for its output (Bedrock
	// reserves the model's maximum); 0 reserves Options.OutputTokens.
	MaxOutputTokens int
}

// quotaWindow is the rolling minute.
const quotaWindow = time.Minute

// quotaLedger holds the reservations of the last minute.
type quotaLedger struct {
	mu      sync.Mutex
	quota   Quota
	entries []*quotaEntry
	peak    int64 // the most tokens the ledger ever held within one minute
}

type quotaEntry struct {
	at     time.Time
	tokens int64
}

// reserve books a request at now: its input tokens plus its max output tokens (maxOut, else the
// quota's MaxOutputTokens, else defaultOut), or reports which limit refused it.
func (l *quotaLedger) reserve(now time.Time, in, maxOut, defaultOut int) (*quotaEntry, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.quota
	if q.TokensPerMinute <= 0 && q.RequestsPerMinute <= 0 {
		return nil, ""
	}
	if maxOut <= 0 {
		maxOut = q.MaxOutputTokens
	}
	if maxOut <= 0 {
		maxOut = defaultOut
	}
	tokens := int64(in + maxOut)
	keep := l.entries[:0]
	var used int64
	for _, e := range l.entries {
		if now.Sub(e.at) < quotaWindow {
			keep = append(keep, e)
			used += e.tokens
		}
	}
	clear(l.entries[len(keep):])
	l.entries = keep
	switch {
	case q.RequestsPerMinute > 0 && int64(len(l.entries)) >= q.RequestsPerMinute:
		return nil, "Too many requests, please wait before trying again."
	case q.TokensPerMinute > 0 && used+tokens > q.TokensPerMinute:
		return nil, "Too many tokens, please wait before trying again."
	}
	e := &quotaEntry{at: now, tokens: tokens}
	l.entries = append(l.entries, e)
	l.peak = max(l.peak, used+tokens)
	return e, ""
}

// settle replaces a reservation by the tokens the answer used.
func (l *quotaLedger) settle(e *quotaEntry, tokens int64) {
	if e == nil {
		return
	}
	l.mu.Lock()
	e.tokens = tokens
	l.mu.Unlock()
}

// SetQuota replaces the provider quota; reservations already made stay in the window.
func (s *Server) SetQuota(q Quota) {
	s.ledger.mu.Lock()
	s.ledger.quota = q
	s.ledger.mu.Unlock()
}

// QuotaPeak is the most tokens the provider quota's rolling minute ever held (reservations and
// settled usage): at most Quota.TokensPerMinute by construction, it is what a test compares with
// what its clients were allowed.
func (s *Server) QuotaPeak() int64 {
	s.ledger.mu.Lock()
	defer s.ledger.mu.Unlock()
	return s.ledger.peak
}

// reserveQuota books a model request in the provider quota before it is served; it answers the
// throttle itself and reports false when the request does not fit.
func (c *call) reserveQuota() bool {
	switch c.route.kind {
	case kindOpenSearch, kindGenericSearch:
		return true
	}
	e, refused := c.s.ledger.reserve(c.s.now(), inputTokens(c.req.promptBytes), c.req.maxTokens, c.s.opts.OutputTokens)
	if refused != "" {
		c.s.update(func(st *Stats) { st.Throttled++; st.QuotaThrottled++ })
		c.s.writeError(c.w, c.route.proto, http.StatusTooManyRequests, refused)
		return false
	}
	c.quota = e
	return true
}

func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}
