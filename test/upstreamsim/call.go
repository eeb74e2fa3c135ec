package upstreamsim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// call is one request on its way through the sim.
type call struct {
	s     *Server
	w     http.ResponseWriter
	r     *http.Request
	start time.Time
	route route
	body  []byte
	f     Faults // the fault knobs this request started with

	key      string // Stats.Requests key
	modelID  string // for Stats.LastModelID
	req      parsedModel
	searchN  int // hits asked for by a search request
	parseErr error
	quota    *quotaEntry // the provider quota's reservation, settled by served
}

// parse reads the body far enough to know the route key and model id; a
// malformed body is answered 400 only after auth and faults, in that order,
// like the real services.
func (c *call) parse() {
	c.key = c.route.key
	switch c.route.kind {
	case kindOpenSearch:
		c.searchN, c.parseErr = parseOpenSearch(c.body, c.r.URL.Query().Get("size"))
	case kindGenericSearch:
		c.searchN, c.parseErr = parseGenericSearch(c.body)
	case kindSageMakerInvoke, kindSageMakerInvokeStream:
		c.modelID = c.route.name
		req, err := parseModelRequest(c.body)
		if err != nil {
			// SageMaker containers take any payload (CSV, raw text), so a
			// body that is not JSON is all prompt rather than an error.
			req = parsedModel{promptBytes: len(c.body)}
		}
		c.req = req
	case kindOpenAIChat, kindOpenAIEmbeddings:
		c.req, c.parseErr = parseModelRequest(c.body)
		c.modelID = c.req.model
		if c.route.kind == kindOpenAIChat && c.req.stream {
			c.key = RouteOpenAIChatStream
		}
	default:
		c.req, c.parseErr = parseModelRequest(c.body)
		c.modelID = c.route.name
	}
}

// serve answers a request that passed auth and fault injection.
func (c *call) serve() {
	switch c.route.kind {
	case kindOpenAIChat:
		if c.req.stream {
			c.openAIChatStream()
			return
		}
		c.openAIChat()
	case kindOpenAIEmbeddings:
		c.openAIEmbeddings()
	case kindConverse:
		c.converse()
	case kindConverseStream:
		c.converseStream()
	case kindInvoke:
		c.invoke()
	case kindInvokeStream:
		c.invokeStream()
	case kindSageMakerInvoke:
		c.sageMakerInvoke()
	case kindSageMakerInvokeStream:
		c.sageMakerInvokeStream()
	case kindOpenSearch:
		c.openSearch()
	case kindGenericSearch:
		c.genericSearch()
	}
}

// tokens returns the input and output token counts of the answer and
// whether the request's own limit cut it short.
func (c *call) tokens() (in, out int, truncated bool) {
	in = inputTokens(c.req.promptBytes)
	out, truncated = outputTokens(c.req.maxTokens, c.s.opts.OutputTokens)
	return in, out, truncated
}

// served records the tokens of a completed answer.
func (c *call) served(in, out int) {
	c.s.ledger.settle(c.quota, int64(in+out))
	c.s.update(func(st *Stats) {
		st.InputTokens += int64(in)
		st.OutputTokens += int64(out)
	})
}

// answerID numbers answers so ids differ between calls.
func (c *call) answerID(prefix string) string {
	return prefix + strconv.FormatInt(c.s.seq.Add(1), 10)
}

// latencyMs is the time since the request arrived, for the latency fields
// the providers report.
func (c *call) latencyMs() int64 {
	return time.Since(c.start).Milliseconds()
}

// tokenText is the synthetic text of output token i: "tok0 tok1 ...".
func tokenText(i int) string {
	if i == 0 {
		return "tok0"
	}
	return " tok" + strconv.Itoa(i)
}

// answerText is the full synthetic answer of n tokens.
func answerText(n int) string {
	b := make([]byte, 0, n*6)
	for i := range n {
		b = append(b, tokenText(i)...)
	}
	return string(b)
}

// writeBody writes a non-streaming JSON answer, padded to OversizedBody.
func (c *call) writeBody(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(c.w, "upstreamsim: cannot encode answer", http.StatusInternalServerError)
		return
	}
	b = pad(b, c.f.OversizedBody)
	c.w.Header().Set("Content-Type", "application/json")
	c.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(b)
}

// pad grows a JSON object to at least size bytes by adding a "padding"
// member, which every client ignores as an unknown field.
func pad(b []byte, size int) []byte {
	const member = `"padding":"",`
	if size <= len(b) || len(b) < 2 || b[0] != '{' {
		return b
	}
	fill := size - len(b) - len(member)
	if string(b) == "{}" {
		fill++ // no comma needed before an empty object's end
	}
	if fill < 0 {
		fill = 0
	}
	out := make([]byte, 0, size+len(member))
	out = append(out, '{')
	out = append(out, `"padding":"`...)
	for range fill {
		out = append(out, 'x')
	}
	out = append(out, '"')
	if len(b) > 2 && b[1] != '}' {
		out = append(out, ',')
	}
	out = append(out, b[1:]...)
	return out
}

// streamContent sends n content events through emit, honouring the
// streaming fault knobs: FirstTokenDelay before the first, TokenInterval
// between the others, StallAfterEvents to stop and hold the connection,
// ResetAfterEvents to cut the connection, StreamErrorAfterEvents to end with
// the protocol's in-stream error (sent by fail). The caller has already flushed the response headers. It reports
// whether all n events were sent, so the caller may finish the stream.
func (c *call) streamContent(n int, emit func(i int) error, fail func() error) bool {
	ctx := c.r.Context()
	if !c.s.wait(ctx, c.f.FirstTokenDelay) {
		return false
	}
	for i := range n {
		if i > 0 && !c.s.wait(ctx, c.f.TokenInterval) {
			return false
		}
		if err := emit(i); err != nil {
			return false
		}
		if c.f.StallAfterEvents > 0 && i+1 == c.f.StallAfterEvents {
			c.s.update(func(st *Stats) { st.Stalls++ })
			c.s.hold(ctx)
			return false
		}
		if c.f.ResetAfterEvents > 0 && i+1 == c.f.ResetAfterEvents {
			c.s.update(func(st *Stats) { st.Resets++ })
			// net/http closes the connection without the final chunk
			// and does not log this sentinel.
			panic(http.ErrAbortHandler)
		}
		if c.f.StreamErrorAfterEvents > 0 && i+1 == c.f.StreamErrorAfterEvents {
			c.s.update(func(st *Stats) { st.StreamErrors++ })
			_ = fail()
			return false
		}
	}
	return true
}

// writeJSON writes a JSON value with a status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "upstreamsim: cannot encode answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
