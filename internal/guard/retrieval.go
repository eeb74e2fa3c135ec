package guard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/breakwater-dev/breakwater/internal/guard/breaker"
	"github.com/breakwater-dev/breakwater/internal/guard/retry"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/metrics"
)

// maxRetrievalRequest bounds a search request body; queries with embedded vectors stay far below.
const maxRetrievalRequest = 4 << 20

func (g *Guard) serveRetrieval(w http.ResponseWriter, r *http.Request, b *backend, rest string) {
	start := time.Now()
	name := b.cfg.Name
	finish := func(outcome string) {
		b.series.requestsTotal(outcome).Inc()
		if outcome != metrics.OutcomeSuccess {
			g.log.Warn("Retrieval request failed", "backend", name, "outcome", outcome, "durationMs", time.Since(start).Milliseconds())
		}
	}
	reject := func(status int, reason, msg string) {
		writeError(w, b.proto, status, reason, msg)
		g.metrics.RejectionsTotal.WithLabelValues(name, reason).Inc()
	}
	for _, seg := range strings.Split(rest, "/") {
		if u, err := url.PathUnescape(seg); err != nil || u == ".." || u == "." {
			// The backend's base URL bounds what the app can reach through the guard.
			reject(http.StatusBadRequest, ReasonInvalidRequest, "the path must not contain dot segments")
			finish(metrics.OutcomeRejected)
			return
		}
	}
	body, err := readLimited(r.Body, maxRetrievalRequest)
	if err != nil {
		reject(http.StatusRequestEntityTooLarge, ReasonRequestTooLarge, "the search request body is too large")
		finish(metrics.OutcomeRejected)
		return
	}
	query := r.URL.Query()
	capped := false
	if limit := b.cfg.MaxDocuments; limit > 0 {
		body, capped, err = b.proto.CapRequest(body, query, limit)
		if err != nil {
			reject(http.StatusBadRequest, ReasonInvalidRequest, "the search request body is not valid JSON")
			finish(metrics.OutcomeRejected)
			return
		}
	}
	if capped {
		g.metrics.DocumentsCapped.WithLabelValues(name).Inc()
	}
	key := cacheKey(r.Method, rest, query.Encode(), body)

	ctx, cancel := context.WithTimeout(r.Context(), b.cfg.Timeout.D())
	defer cancel()
	b.policy.budget.Request()
	var last retrievalResult
	end, done := g.retryLoop(ctx, b.policy, 1, func(int) *breaker.Breaker { return b.breaker },
		func(attempt, _ int) verdict {
			if attempt > 1 {
				b.series.retriesTotal().Inc()
			}
			last = g.retrievalAttempt(ctx, w, r, b, rest, query, body, capped, key)
			if last.done {
				finish(last.outcome)
			}
			return verdict{done: last.done, success: last.success, retryable: last.retryable, retryAfter: last.retryAfter, hasRA: last.hasRA}
		})
	if done {
		return
	}
	reason, lastStatus := last.reason, last.status
	switch {
	case end.budgetOut:
		reason = ReasonRetryBudgetExhausted
	case end.sawOpen:
		reason = ReasonCircuitOpen
	case reason == "":
		reason = ReasonUpstreamUnavailable
	}
	if r.Context().Err() != nil {
		finish(metrics.OutcomeCanceled)
		return
	}
	if ctx.Err() != nil && reason != ReasonCircuitOpen {
		reason = ReasonUpstreamTimeout
	}
	if g.degrade(w, b, key, reason) {
		finish(metrics.OutcomeDegraded)
		return
	}
	status := http.StatusServiceUnavailable
	switch {
	case reason == ReasonUpstreamTimeout:
		status = http.StatusGatewayTimeout
	case reason == ReasonResponseTooLarge:
		status = http.StatusBadGateway
	case lastStatus == http.StatusTooManyRequests:
		status, reason = http.StatusTooManyRequests, ReasonUpstreamThrottled
	}
	reject(status, reason, "the retrieval backend failed")
	finish(metrics.OutcomeUpstreamError)
}

type retrievalResult struct {
	done, success, retryable bool
	outcome, reason          string
	status                   int
	retryAfter               time.Duration
	hasRA                    bool
}

func (g *Guard) retrievalAttempt(ctx context.Context, w http.ResponseWriter, r *http.Request, b *backend, rest string,
	query url.Values, body []byte, capped bool, key [32]byte) retrievalResult {
	u := *b.base
	u.RawPath = b.base.EscapedPath() + "/" + rest
	if p, err := url.PathUnescape(u.RawPath); err == nil {
		u.Path = p
	}
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return retrievalResult{success: true, outcome: metrics.OutcomeRejected, reason: ReasonInvalidRequest}
	}
	req.URL = &u
	req.Header = forwardHeaders(r.Header)
	if b.authorization != nil {
		req.Header.Set("Authorization", b.authorization.Value())
	}
	resp, err := g.client.Do(req)
	if err != nil {
		if r.Context().Err() != nil {
			return retrievalResult{done: true, success: true, outcome: metrics.OutcomeCanceled}
		}
		return retrievalResult{retryable: ctx.Err() == nil, reason: ReasonUpstreamUnavailable}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		eb, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			res := retrievalResult{retryable: true, reason: ReasonUpstreamError, status: resp.StatusCode}
			res.retryAfter, res.hasRA = retry.RetryAfter(resp.Header, time.Now())
			return res
		}
		// The backend refused the query itself: the app should see why.
		copyResponseHeaders(w.Header(), resp.Header, false)
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(eb)
		return retrievalResult{done: true, success: true, outcome: metrics.OutcomeClientError}
	}
	data, err := readLimited(resp.Body, b.cfg.MaxResponseBytes)
	if errors.Is(err, errTooLarge) {
		return retrievalResult{reason: ReasonResponseTooLarge}
	}
	if err != nil {
		if r.Context().Err() != nil {
			return retrievalResult{done: true, success: true, outcome: metrics.OutcomeCanceled}
		}
		return retrievalResult{retryable: ctx.Err() == nil, reason: ReasonUpstreamUnavailable}
	}
	if limit := b.cfg.MaxDocuments; limit > 0 {
		if field := b.proto.ResultsPath(); field != "" {
			if trimmed, ok := trimArray(data, strings.Split(field, "."), limit); ok {
				data, capped = trimmed, true
			}
		}
	}
	if b.cache != nil {
		b.cache.put(key, resp.Header.Get("Content-Type"), data)
	}
	h := w.Header()
	copyResponseHeaders(h, resp.Header, false)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	if capped {
		h.Set(HeaderReason, ReasonDocumentsCapped)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(data)
	return retrievalResult{done: true, success: true, outcome: metrics.OutcomeSuccess}
}

// degrade answers for a failed backend when its policy allows: the last good answer to the same
// request (cache) or an empty result (degrade, and cache without a hit).
func (g *Guard) degrade(w http.ResponseWriter, b *backend, key [32]byte, reason string) bool {
	h := w.Header()
	switch b.cfg.OnFailure {
	case guardconfig.Cache:
		if ct, data, ok := b.cache.get(key); ok {
			h.Set("Content-Type", ct)
			h.Set(HeaderDegraded, "cache")
			h.Set(HeaderReason, ReasonRetrievalDegraded)
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(data)
			g.metrics.RetrievalDegraded.WithLabelValues(b.cfg.Name, "cache").Inc()
			return true
		}
	case guardconfig.Degrade:
	default:
		return false
	}
	h.Set("Content-Type", "application/json")
	h.Set(HeaderDegraded, "empty")
	h.Set(HeaderReason, ReasonRetrievalDegraded)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.proto.Empty())
	g.metrics.RetrievalDegraded.WithLabelValues(b.cfg.Name, "empty").Inc()
	g.log.Warn("Answered an empty retrieval result for a failed backend", "backend", b.cfg.Name, "reason", reason)
	return true
}

// trimArray cuts the array at path to at most limit elements, keeping every other field. ok is
// false when nothing was cut (or the answer does not have that shape: it is then left alone).
func trimArray(data []byte, path []string, limit int) ([]byte, bool) {
	if len(path) == 0 {
		var arr []json.RawMessage
		if json.Unmarshal(data, &arr) != nil || len(arr) <= limit {
			return nil, false
		}
		out, err := json.Marshal(arr[:limit])
		return out, err == nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) != nil {
		return nil, false
	}
	inner, ok := obj[path[0]]
	if !ok {
		return nil, false
	}
	trimmed, ok := trimArray(inner, path[1:], limit)
	if !ok {
		return nil, false
	}
	obj[path[0]] = trimmed
	out, err := json.Marshal(obj)
	return out, err == nil
}

func cacheKey(method, rest, query string, body []byte) [32]byte {
	h := sha256.New()
	for _, s := range []string{method, rest, query} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(body)
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

// answerCache keeps recent good retrieval answers, keyed by a hash of the request, bounded in
// entries and age, for the "cache" failure policy.
type answerCache struct {
	mu      sync.Mutex
	max     int
	ttl     time.Duration
	now     func() time.Time
	entries map[[32]byte]cacheEntry
	order   [][32]byte
}

type cacheEntry struct {
	contentType string
	data        []byte
	at          time.Time
}

func newAnswerCache(maxEntries int, ttl time.Duration, now func() time.Time) *answerCache {
	return &answerCache{max: maxEntries, ttl: ttl, now: now, entries: map[[32]byte]cacheEntry{}}
}

func (c *answerCache) put(k [32]byte, ct string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok {
		c.order = append(c.order, k)
	}
	c.entries[k] = cacheEntry{contentType: ct, data: data, at: c.now()}
	for len(c.order) > c.max {
		delete(c.entries, c.order[0])
		c.order = c.order[1:]
	}
}

func (c *answerCache) get(k [32]byte) (string, []byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || c.now().Sub(e.at) > c.ttl {
		return "", nil, false
	}
	return e.contentType, e.data, true
}
