package guard

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/breakwater-dev/breakwater/internal/guard/provider"
	"github.com/breakwater-dev/breakwater/internal/metrics"
)

// maxWholeAnswer bounds the non-streamed answer the guard holds to read its usage and to be able
// to retry a connection that breaks midway. A larger answer is passed through as it comes.
const maxWholeAnswer = 32 << 20

// watchdog cancels an attempt whose stream does not start within the first-token timeout, or
// goes quiet for longer than the idle timeout once started.
type watchdog struct {
	timer   *time.Timer
	idle    time.Duration
	started atomic.Bool
}

func startWatchdog(first, idle time.Duration, cancel context.CancelCauseFunc) *watchdog {
	w := &watchdog{idle: idle}
	w.timer = time.AfterFunc(first, func() {
		if w.started.Load() {
			cancel(errStreamIdleTimeout)
		} else {
			cancel(errFirstTokenTimeout)
		}
	})
	return w
}

func (w *watchdog) stop() { w.timer.Stop() }

// watchedReader feeds every read of the upstream body to the watchdog.
type watchedReader struct {
	r io.Reader
	w *watchdog
}

func (wr *watchedReader) Read(p []byte) (int, error) {
	n, err := wr.r.Read(p)
	if n > 0 {
		wr.w.started.Store(true)
		wr.w.timer.Reset(wr.w.idle)
	}
	return n, err
}

// beginAnswer sends the upstream's status and headers to the app. For streams it runs just
// before the first byte, so that an attempt failing before that can still be retried.
func (x *exchange) beginAnswer(resp *http.Response, keepLength bool) {
	h := x.w.Header()
	copyResponseHeaders(h, resp.Header, keepLength)
	h.Set(HeaderTarget, x.target.cfg.Name)
	h.Set(HeaderAttempts, strconv.Itoa(x.attempt))
	x.w.WriteHeader(resp.StatusCode)
	x.wrote, x.answered = true, true
	x.ttft = time.Since(x.start)
}

// relay passes a successful upstream answer to the app and reads its token usage.
func (g *Guard) relay(ctx, actx context.Context, x *exchange, resp *http.Response, body io.Reader) attemptResult {
	ct := resp.Header.Get("Content-Type")
	rc := http.NewResponseController(x.w)
	flush := func() { _ = rc.Flush() }
	if !x.stream || !x.ep.proto.Streams(x.op, ct) {
		return g.relayWhole(ctx, actx, x, resp, body)
	}
	first := func() {
		// Announced before the status line (RFC 9110 section 6.6.2) and set only if the stream
		// is cut, so that proxies and clients that keep announced trailers only see it.
		x.w.Header().Set("Trailer", HeaderReason)
		x.beginAnswer(resp, false)
	}
	sr, err := x.ep.proto.RelayStream(x.op, provider.Stream{Dst: x.w, Flush: flush, Src: body, FirstByte: first, AskedUsage: x.info.AskedUsage})
	if sr.Seen {
		x.in, x.out, x.usageSeen = sr.In, sr.Out, true
	}
	x.streamError = sr.Failed
	if err == nil && !x.wrote {
		first() // an empty stream: still answer its status
		flush()
	}
	var res attemptResult
	switch {
	case x.streamError:
		// The upstream reported an error inside the stream, after the app had bytes: no retry.
		// (An app that stops reading at the error may close first: still the upstream's failure.)
		return attemptResult{done: true, success: false, outcome: metrics.OutcomeStreamInterrupted}
	case err == nil:
		return attemptResult{done: true, success: true, outcome: metrics.OutcomeSuccess}
	case !x.wrote:
		return g.failedBeforeAnswer(ctx, actx, x)
	case x.r.Context().Err() != nil:
		return attemptResult{done: true, success: true, outcome: metrics.OutcomeCanceled}
	case errors.Is(context.Cause(actx), errStreamIdleTimeout):
		res = attemptResult{done: true, outcome: metrics.OutcomeTimeout, reason: ReasonStreamIdleTimeout}
	case ctx.Err() != nil:
		res = attemptResult{done: true, outcome: metrics.OutcomeTimeout, reason: ReasonUpstreamTimeout}
	default:
		res = attemptResult{done: true, outcome: metrics.OutcomeStreamInterrupted, reason: ReasonUpstreamError}
	}
	// The status line is long gone: say why the stream was cut in a trailer, for apps and
	// proxies that read them, and end the stream with an error in its own protocol, because the
	// SDKs read a clean end of an event stream or SSE stream as a complete answer.
	x.w.Header().Set(HeaderReason, res.reason)
	x.ep.proto.WriteStreamError(x.w, x.op, res.reason)
	flush()
	return res
}

// relayWhole reads a non-streamed answer whole (bounded), reads its usage and passes it on.
func (g *Guard) relayWhole(ctx, actx context.Context, x *exchange, resp *http.Response, body io.Reader) attemptResult {
	data, err := io.ReadAll(io.LimitReader(body, maxWholeAnswer+1))
	if err != nil {
		return g.failedBeforeAnswer(ctx, actx, x)
	}
	if len(data) > maxWholeAnswer {
		x.beginAnswer(resp, false)
		_, _ = x.w.Write(data)
		if _, err := io.Copy(x.w, body); err != nil {
			if x.r.Context().Err() != nil {
				return attemptResult{done: true, success: true, outcome: metrics.OutcomeCanceled}
			}
			return attemptResult{done: true, outcome: metrics.OutcomeStreamInterrupted}
		}
		return attemptResult{done: true, success: true, outcome: metrics.OutcomeSuccess}
	}
	if u := x.ep.proto.Usage(x.op, resp.Header, data); u.Seen {
		x.in, x.out, x.usageSeen = u.In, u.Out, true
	}
	resp.Header.Set("Content-Length", strconv.Itoa(len(data)))
	x.beginAnswer(resp, true)
	_, _ = x.w.Write(data)
	return attemptResult{done: true, success: true, outcome: metrics.OutcomeSuccess}
}
