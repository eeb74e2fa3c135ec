package guard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	awseventstream "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/breakwater-dev/breakwater/internal/guard/eventstream"
	"github.com/breakwater-dev/breakwater/internal/guard/inspect"
	"github.com/breakwater-dev/breakwater/internal/guard/sse"
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
func (g *Guard) relay(ctx, actx context.Context, x *exchange, t *target, resp *http.Response, body io.Reader) attemptResult {
	ct := resp.Header.Get("Content-Type")
	rc := http.NewResponseController(x.w)
	flush := func() { _ = rc.Flush() }
	first := func() { x.beginAnswer(resp, false) }
	var err error
	switch {
	case x.stream && strings.HasPrefix(ct, "application/vnd.amazon.eventstream"):
		var tap *sageMakerUsageTap
		if x.op.kind == opSageMakerStream {
			tap = newSageMakerUsageTap(body)
			body = tap
		}
		var res eventstream.Result
		res, err = eventstream.Relay(x.w, flush, body, first)
		switch {
		case res.UsageSeen:
			x.in, x.out, x.usageSeen = res.InputTokens, res.OutputTokens, true
		case tap != nil && tap.seen:
			x.in, x.out, x.usageSeen = tap.in, tap.out, true
		}
		if res.Exception != "" {
			x.streamError = true
		}
	case x.stream && strings.HasPrefix(ct, "text/event-stream"):
		_, err = sse.Relay(x.w, flush, body, func(data []byte) bool {
			if bytes.HasPrefix(bytes.TrimSpace(data), []byte(`{"error"`)) {
				x.streamError = true
			}
			in, out, usageOnly, ok := sse.OpenAIUsage(data)
			if ok {
				x.in, x.out, x.usageSeen = in, out, true
			}
			// The guard asked for the usage chunk itself when the app did not: hide it.
			return usageOnly && !x.info.AskedUsage
		}, first)
	default:
		return g.relayWhole(ctx, actx, x, resp, body)
	}
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
	x.w.Header().Set(http.TrailerPrefix+HeaderReason, res.reason)
	writeStreamError(x.w, x.op, ct, res.reason)
	flush()
	return res
}

// writeStreamError ends a stream the upstream broke after the app had part of it with one error
// event the app's SDK reports as an error: an exception frame for AWS event streams (Bedrock's
// modelStreamErrorException, SageMaker's ModelStreamError), an "error" event for OpenAI SSE. When the
// break fell inside a frame the SDK fails on the frame's checksum instead: an error either way.
func writeStreamError(w io.Writer, op operation, contentType, reason string) {
	message := "the upstream stream was interrupted (" + reason + "); the answer is incomplete"
	switch {
	case strings.HasPrefix(contentType, "application/vnd.amazon.eventstream"):
		exceptionType := "modelStreamErrorException"
		if op.kind == opSageMakerStream {
			exceptionType = "ModelStreamError"
		}
		payload, _ := json.Marshal(map[string]string{"message": message})
		m := awseventstream.Message{Payload: payload}
		m.Headers.Set(":message-type", awseventstream.StringValue("exception"))
		m.Headers.Set(":exception-type", awseventstream.StringValue(exceptionType))
		m.Headers.Set(":content-type", awseventstream.StringValue("application/json"))
		_ = awseventstream.NewEncoder().Encode(w, m)
	case strings.HasPrefix(contentType, "text/event-stream"):
		payload, _ := json.Marshal(map[string]any{"error": map[string]string{
			"message": message, "type": "upstream_error", "code": reason,
		}})
		_, _ = io.WriteString(w, "data: "+string(payload)+"\n\n")
	}
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
	x.in, x.out, x.usageSeen = wholeUsage(x.op, resp.Header, data)
	resp.Header.Set("Content-Length", strconv.Itoa(len(data)))
	x.beginAnswer(resp, true)
	_, _ = x.w.Write(data)
	return attemptResult{done: true, success: true, outcome: metrics.OutcomeSuccess}
}

// wholeUsage reads the provider-reported usage of a non-streamed answer.
func wholeUsage(op operation, h http.Header, data []byte) (in, out int64, ok bool) {
	switch op.kind {
	case opConverse:
		i, o, _, ok := inspect.AnswerUsage(data, inspect.ConverseUsage)
		return i, o, ok
	case opInvoke:
		// InvokeModel reports usage in headers whatever the model's body format.
		i, err1 := strconv.ParseInt(h.Get("X-Amzn-Bedrock-Input-Token-Count"), 10, 64)
		o, err2 := strconv.ParseInt(h.Get("X-Amzn-Bedrock-Output-Token-Count"), 10, 64)
		if err1 != nil || err2 != nil {
			return 0, 0, false
		}
		return i, o, true
	default:
		// OpenAI chat and embeddings, and SageMaker containers that speak the OpenAI format.
		i, o, _, ok := sse.OpenAIUsage(data)
		return i, o, ok
	}
}
