package guard

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/breakwater-dev/breakwater/internal/admission"
	"github.com/breakwater-dev/breakwater/internal/guard/breaker"
	"github.com/breakwater-dev/breakwater/internal/guard/inspect"
	"github.com/breakwater-dev/breakwater/internal/guard/provider"
	"github.com/breakwater-dev/breakwater/internal/guard/provider/registry"
	"github.com/breakwater-dev/breakwater/internal/guard/retry"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/metrics"
)

// maxErrorBody bounds how much of a failed upstream answer is kept to pass on to the app.
const maxErrorBody = 64 << 10

// exchange is one app request to a model endpoint, from arrival to the last byte of the answer.
type exchange struct {
	w       http.ResponseWriter
	r       *http.Request
	st      *state
	ep      *endpoint
	op      provider.Operation
	info    inspect.Info
	body    []byte
	stream  bool
	start   time.Time
	attempt int

	// Set as the exchange goes.
	target      *target
	wrote       bool // the answer's status line went to the app: no retry from here on
	answered    bool // a successful upstream answer began (tokens were generated)
	ttft        time.Duration
	in, out     int64
	usageSeen   bool
	streamError bool
	outcome     string
	reason      string
}

// attemptResult is the outcome of one upstream attempt.
type attemptResult struct {
	done       bool // the answer went to the app (success, a non-retryable error, or a broken stream)
	success    bool // for the breaker: the target did its job (client errors included)
	retryable  bool
	outcome    string
	reason     string      // why a failed attempt failed, when the upstream gave no answer
	status     int         // the upstream's status when it answered with an error
	header     http.Header // and its headers
	body       []byte      // and (the start of) its body
	retryAfter time.Duration
	hasRA      bool
}

func (g *Guard) serveModel(w http.ResponseWriter, r *http.Request, st *state, ep *endpoint, rest string) {
	x := &exchange{w: w, r: r, st: st, ep: ep, start: time.Now()}
	defer g.account(x)
	op, ok := ep.proto.Route(rest)
	if !ok {
		if other, isOp := registry.ForPath(rest); isOp {
			// An SDK of one provider pointed at an endpoint of another: answer in the shape the
			// SDK reads, so its message says what to change.
			g.log.Debug("Protocol mismatch", "endpoint", ep.cfg.Name, "endpointProvider", ep.proto.Name(),
				"pathProvider", other.Name(), "method", r.Method)
			g.rejectModelAs(x, other, http.StatusNotFound, ReasonProtocolMismatch, "this path is an operation of provider "+other.Name()+
				", but endpoint "+ep.cfg.Name+" is of provider "+ep.proto.Name()+"; point this SDK at an endpoint of its own provider")
			return
		}
		g.log.Debug("Unknown operation", "endpoint", ep.cfg.Name, "provider", ep.proto.Name(), "method", r.Method,
			"path", logPath(r.URL.EscapedPath()))
		g.rejectModel(x, http.StatusNotFound, ReasonUnknownRoute, "this path is not a supported "+string(ep.cfg.Provider)+" operation")
		return
	}
	x.op = op
	if r.Method != http.MethodPost {
		g.rejectModel(x, http.StatusMethodNotAllowed, ReasonInvalidRequest, "only POST is supported")
		return
	}
	switch {
	case st.quota.State == guardconfig.QuotaShedding && st.criticality == guardconfig.Sheddable:
		g.rejectModel(x, http.StatusTooManyRequests, ReasonQuotaShed, "the token quota is shedding sheddable workloads")
		return
	case st.quota.State == guardconfig.QuotaExhausted && st.criticality != guardconfig.Critical:
		g.rejectModel(x, http.StatusTooManyRequests, ReasonQuotaExhausted, "the token quota is exhausted")
		return
	}
	body, err := readLimited(r.Body, ep.cfg.Limits.MaxRequestBytes)
	if errors.Is(err, errTooLarge) {
		g.rejectModel(x, http.StatusRequestEntityTooLarge, ReasonRequestTooLarge,
			"the request body exceeds "+strconv.FormatInt(ep.cfg.Limits.MaxRequestBytes, 10)+" bytes")
		return
	}
	if err != nil {
		g.rejectModel(x, http.StatusBadRequest, ReasonInvalidRequest, "the request body could not be read")
		return
	}
	clamp := minPositive(ep.cfg.Limits.MaxOutputTokens, st.quota.OutputTokenClamp)
	info, body, err := ep.proto.Inspect(op, body, clamp)
	if err != nil {
		g.rejectModel(x, http.StatusBadRequest, ReasonInvalidRequest, "the request body is not valid JSON for this operation")
		return
	}
	x.info, x.body = info, body
	x.stream = info.Stream || op.Stream
	if limit := ep.cfg.Limits.MaxPromptTokens; limit > 0 && info.PromptTokens > limit {
		g.rejectModel(x, http.StatusBadRequest, ReasonPromptTooLarge,
			"the prompt is estimated at "+strconv.FormatInt(info.PromptTokens, 10)+" tokens, above the limit of "+strconv.FormatInt(limit, 10))
		return
	}
	var reserved int64
	if st.bucket != nil {
		reserved = info.PromptTokens + info.MaxTokens
		if !st.bucket.Reserve(reserved) {
			g.metrics.QuotaAvailable.Set(float64(st.bucket.Available()))
			g.rejectModel(x, http.StatusTooManyRequests, ReasonQuotaExhausted, "the local token allowance per minute is used up")
			return
		}
	}

	var ticket admission.Ticket
	if len(ep.quotas) > 0 {
		var ok bool
		if ticket, ok = g.admit(r.Context(), x, info.PromptTokens+info.MaxTokens); !ok {
			if st.bucket != nil {
				st.bucket.Settle(reserved, 0)
			}
			return
		}
	}

	ctx, cancel := context.WithTimeout(r.Context(), ep.cfg.Timeouts.Request.D())
	defer cancel()
	ep.policy.budget.Request()
	g.attempts(ctx, x)

	if len(ep.quotas) > 0 {
		actual := info.PromptTokens + info.MaxTokens
		switch {
		case x.usageSeen:
			actual = x.in + x.out
		case !x.answered:
			actual = 0
		}
		st.admitter.Settle(ticket, actual, x.attempt > 0)
		if x.outcome == metrics.OutcomeThrottled {
			// Every target tried throttled the request the quota admitted: the provider's limit
			// is below ours. A throttle another target made up for says that target is short, not
			// the quota (the FailoverPolicy's business).
			st.admitter.Throttled(ticket)
		}
	}

	if st.bucket != nil {
		actual := reserved
		switch {
		case x.usageSeen:
			actual = x.in + x.out
		case !x.answered:
			actual = 0 // no answer was generated for the app
		}
		st.bucket.Settle(reserved, actual)
		g.metrics.QuotaAvailable.Set(float64(st.bucket.Available()))
	}
}

// rejectModel answers a guard-made error before or instead of an upstream answer.
func (g *Guard) rejectModel(x *exchange, status int, reason, message string) {
	g.rejectModelAs(x, x.ep.proto, status, reason, message)
}

// rejectModelAs is rejectModel in another protocol's error shape.
func (g *Guard) rejectModelAs(x *exchange, proto errorWriter, status int, reason, message string) {
	if x.attempt > 0 {
		x.w.Header().Set(HeaderAttempts, strconv.Itoa(x.attempt))
	}
	writeError(x.w, proto, status, reason, message)
	x.wrote = true
	x.reason = reason
	g.metrics.RejectionsTotal.WithLabelValues(x.ep.cfg.Name, reason).Inc()
	if x.outcome == "" {
		x.outcome = metrics.OutcomeRejected
	}
}

// attempts tries the targets in weighted order through the retry loop, then answers the last
// failure if no attempt answered the app.
func (g *Guard) attempts(ctx context.Context, x *exchange) {
	ep := x.ep
	order := ep.order(g.rand)
	var last attemptResult
	var prev *target
	end, done := g.retryLoop(ctx, ep.policy, len(order), func(i int) *breaker.Breaker { return order[i].breaker },
		func(attempt, i int) verdict {
			t, from := order[i], prev
			if from == nil {
				from = order[0]
			}
			if t != from {
				g.metrics.FallbacksTotal.WithLabelValues(ep.cfg.Name, from.cfg.Name, t.cfg.Name).Inc()
			}
			if attempt > 1 {
				t.series.retriesTotal().Inc()
			}
			x.attempt = attempt
			x.target = t
			res := g.attempt(ctx, x, t)
			t.series.attemptsTotal(attemptOutcome(res)).Inc()
			if res.done {
				x.outcome, x.reason = res.outcome, res.reason
			} else {
				last, prev = res, t
			}
			return verdict{done: res.done, success: res.success, retryable: res.retryable, retryAfter: res.retryAfter, hasRA: res.hasRA,
				throttled: res.status == http.StatusTooManyRequests}
		})
	if done {
		return
	}
	var lastp *attemptResult
	if prev != nil {
		lastp = &last
	}
	g.answerFailure(ctx, x, lastp, end.sawOpen, end.budgetOut)
}

// attemptOutcome names how one attempt ended, in the outcome values of the requests metric. An
// attempt whose answer went to the app has its own outcome; a retried failure has the outcome it
// would have had as the last one.
func attemptOutcome(res attemptResult) string {
	switch {
	case res.outcome != "":
		return res.outcome
	case res.status == http.StatusTooManyRequests:
		return metrics.OutcomeThrottled
	case res.status != 0:
		return metrics.OutcomeUpstreamError
	case res.success:
		return metrics.OutcomeSuccess
	default:
		return metrics.OutcomeUpstreamError
	}
}

// answerFailure tells the app why no attempt succeeded: the last upstream error answer when
// there is one (so the app sees the provider's own error), else a guard error.
func (g *Guard) answerFailure(ctx context.Context, x *exchange, last *attemptResult, sawOpen, budgetOut bool) {
	switch {
	case x.r.Context().Err() != nil:
		x.outcome, x.reason = metrics.OutcomeCanceled, ""
		return
	case last == nil && sawOpen:
		setRetryAfter(x.w.Header(), x.ep.soonestProbe())
		g.rejectModel(x, http.StatusServiceUnavailable, ReasonCircuitOpen, "every target's circuit breaker is open")
		return
	case last == nil && ctx.Err() != nil:
		x.outcome = metrics.OutcomeTimeout
		g.rejectModel(x, http.StatusGatewayTimeout, ReasonUpstreamTimeout, "the request timeout passed")
		return
	case last == nil:
		g.rejectModel(x, http.StatusServiceUnavailable, ReasonNoHealthyTarget, "no target could take the request")
		return
	}
	x.outcome = last.outcome
	if last.status != 0 {
		reason := ReasonUpstreamError
		if last.status == http.StatusTooManyRequests {
			reason = ReasonUpstreamThrottled
		}
		if budgetOut {
			reason = ReasonRetryBudgetExhausted
			g.metrics.RejectionsTotal.WithLabelValues(x.ep.cfg.Name, reason).Inc()
		}
		x.reason = reason
		h := x.w.Header()
		copyResponseHeaders(h, last.header, false)
		setReason(h, reason)
		h.Set(HeaderTarget, x.target.cfg.Name)
		h.Set(HeaderAttempts, strconv.Itoa(x.attempt))
		x.w.WriteHeader(last.status)
		_, _ = x.w.Write(last.body)
		x.wrote = true
		return
	}
	reason, status := last.reason, http.StatusServiceUnavailable
	switch {
	case budgetOut:
		reason = ReasonRetryBudgetExhausted
	case reason == ReasonFirstTokenTimeout || reason == ReasonUpstreamTimeout:
		status = http.StatusGatewayTimeout
	}
	g.rejectModel(x, status, reason, failureMessage(reason))
}

func failureMessage(reason string) string {
	switch reason {
	case ReasonFirstTokenTimeout:
		return "no target sent a first token within the first-token timeout"
	case ReasonUpstreamTimeout:
		return "the request timeout passed before a target answered"
	case ReasonRetryBudgetExhausted:
		return "the target failed and the retry budget is used up"
	case ReasonCredentials:
		return "the guard could not obtain AWS credentials to sign the request"
	default:
		return "the target could not be reached"
	}
}

// attempt sends the request to one target and, if it answers well, relays the answer.
func (g *Guard) attempt(ctx context.Context, x *exchange, t *target) attemptResult {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := g.newUpstreamRequest(actx, x.ep, t, x.op, x.r, x.body)
	if err != nil {
		g.log.Error("Could not build the upstream request", "endpoint", x.ep.cfg.Name, "target", t.cfg.Name, "error", err)
		// The guard's own credentials failing says nothing about the target.
		return attemptResult{success: true, retryable: false, outcome: metrics.OutcomeUpstreamError, reason: ReasonCredentials}
	}
	var wd *watchdog
	if x.stream {
		wd = startWatchdog(x.ep.cfg.Timeouts.FirstToken.D(), x.ep.cfg.Timeouts.StreamIdle.D(), cancel)
		defer wd.stop()
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return g.failedBeforeAnswer(ctx, actx, x)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return g.errorAnswer(x, resp)
	}
	var body io.Reader = resp.Body
	if wd != nil {
		body = &watchedReader{r: resp.Body, w: wd}
	}
	return g.relay(ctx, actx, x, resp, body)
}

// failedBeforeAnswer classifies an attempt that ended before the app got anything.
func (g *Guard) failedBeforeAnswer(ctx, actx context.Context, x *exchange) attemptResult {
	switch {
	case x.r.Context().Err() != nil:
		return attemptResult{done: true, success: true, outcome: metrics.OutcomeCanceled}
	case ctx.Err() != nil:
		return attemptResult{success: false, outcome: metrics.OutcomeTimeout, reason: ReasonUpstreamTimeout}
	case errors.Is(context.Cause(actx), errFirstTokenTimeout):
		return attemptResult{retryable: true, outcome: metrics.OutcomeTimeout, reason: ReasonFirstTokenTimeout}
	default:
		return attemptResult{retryable: true, outcome: metrics.OutcomeUpstreamError, reason: ReasonUpstreamUnavailable}
	}
}

// errorAnswer handles an upstream's error status: kept for a retry's sake, or passed on.
func (g *Guard) errorAnswer(x *exchange, resp *http.Response) attemptResult {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	res := attemptResult{status: resp.StatusCode, header: resp.Header, body: b}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		res.retryable, res.outcome = true, metrics.OutcomeThrottled
	case resp.StatusCode == http.StatusRequestTimeout,
		resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented && resp.StatusCode != http.StatusHTTPVersionNotSupported:
		res.retryable, res.outcome = true, metrics.OutcomeUpstreamError
	case resp.StatusCode >= 500:
		res.outcome = metrics.OutcomeUpstreamError
	default:
		res.outcome = metrics.OutcomeClientError
	}
	res.success = !res.retryable
	if d, ok := retry.RetryAfter(resp.Header, time.Now()); ok {
		res.retryAfter, res.hasRA = d, true
	}
	if !res.retryable {
		h := x.w.Header()
		copyResponseHeaders(h, resp.Header, false)
		h.Set(HeaderTarget, x.target.cfg.Name)
		h.Set(HeaderAttempts, strconv.Itoa(x.attempt))
		x.w.WriteHeader(resp.StatusCode)
		_, _ = x.w.Write(b)
		x.wrote = true
		res.done = true
	}
	return res
}

var errTooLarge = errors.New("body too large")

// readLimited reads at most limit bytes, reading limit+1 to tell "exactly at the limit" from "over".
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

func minPositive(a, b int64) int64 {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	default:
		return min(a, b)
	}
}

// account records the finished exchange in metrics and, for failures, in the log.
func (g *Guard) account(x *exchange) {
	ep := x.ep
	targetName, s := "", ep.series
	if x.target != nil {
		targetName, s = x.target.cfg.Name, x.target.series
	}
	if x.outcome == "" {
		x.outcome = metrics.OutcomeSuccess
	}
	s.requestsTotal(x.outcome).Inc()
	opName := x.op.Name
	s.operationDuration(opName, x.outcome).Observe(time.Since(x.start).Seconds())
	if x.stream && x.ttft > 0 {
		s.timeToFirstToken(opName).Observe(x.ttft.Seconds())
	}
	if x.usageSeen && x.target != nil {
		s.tokenUsage(opName, tokenInput).Observe(float64(x.in))
		s.tokenUsage(opName, tokenOutput).Observe(float64(x.out))
		s.tokensTotal(tokenInput).Add(float64(x.in))
		s.tokensTotal(tokenOutput).Add(float64(x.out))
		if cost := float64(x.in)*x.target.inPerToken + float64(x.out)*x.target.outPerToken; cost > 0 {
			s.costTotal().Add(cost)
		}
	}
	level, msg := slog.LevelWarn, "Request failed"
	if x.outcome == metrics.OutcomeSuccess || x.outcome == metrics.OutcomeClientError || x.outcome == metrics.OutcomeCanceled {
		level, msg = slog.LevelDebug, "Request finished"
	}
	// Checked first: building the attributes costs allocations on every request, and the debug
	// line of a success is off by default.
	if !g.log.Enabled(x.r.Context(), level) {
		return
	}
	g.log.Log(x.r.Context(), level, msg, "endpoint", ep.cfg.Name, "target", targetName, "operation", opName,
		"outcome", x.outcome, "reason", x.reason, "attempts", x.attempt, "durationMs", time.Since(x.start).Milliseconds())
}
