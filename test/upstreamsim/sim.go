// Package upstreamsim simulates model and retrieval upstreams on loopback for tests, the demo and benchmarks.
//
// One Server speaks the real wire protocols of the upstreams the guard talks
// to, so the real clients work against it unchanged through their base
// endpoint setting:
//
//   - OpenAI-compatible chat completions (JSON and SSE) and embeddings:
//     .../chat/completions, .../embeddings
//   - Amazon Bedrock Runtime Converse, ConverseStream, InvokeModel and
//     InvokeModelWithResponseStream (REST-JSON and AWS event stream):
//     .../model/{id}/converse, converse-stream, invoke,
//     invoke-with-response-stream
//   - Amazon SageMaker Runtime InvokeEndpoint and
//     InvokeEndpointWithResponseStream: .../endpoints/{name}/invocations,
//     invocations-response-stream (the container plays an OpenAI-compatible
//     server: chat.completion JSON, SSE chunks inside PayloadPart events)
//   - OpenSearch .../{index}/_search and a generic .../search API.
//
// Routes are matched on the end of the path, so any leading prefix works
// ("/m/NAME/model/X/converse"): the guard and the demo put their own routing
// prefix in front of the provider path.
//
// Answers are synthetic ("tok0 tok1 ..."). Input tokens are a quarter of the
// prompt text bytes, rounded up, at least one; output tokens are the smaller
// of the request's own limit and Options.OutputTokens, and an answer cut by
// the request's limit ends with "length" / "max_tokens". The sim never logs.
//
// Options.Quota (or SetQuota) is a hidden provider quota per server, that is per Region: tokens
// and requests per rolling minute, each request reserving input + max output tokens at its start
// and settled to its usage, refused with the provider's throttle (quota.go).
//
// Bedrock and SageMaker requests must carry a SigV4 signature scoped to
// Options.Region and the service; with Options.AccessKeyID set the signature
// is recomputed with the SDK's signer and compared.
//
// Faults (latency, throttling, errors, connection resets, slow, stalled or
// failing streams, oversized answers) are switched at run time with
// SetFaults, or over HTTP through ControlHandler. Each rate is applied by a
// counter, never by randomness: request k of a setting is hit when
// floor(k*rate) advances, so tests are repeatable and counts exact.
package upstreamsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Route keys used in Stats.Requests.
const (
	RouteOpenAIChat            = "openai.chat"
	RouteOpenAIChatStream      = "openai.chat.stream"
	RouteOpenAIEmbeddings      = "openai.embeddings"
	RouteBedrockConverse       = "bedrock.converse"
	RouteBedrockConverseStream = "bedrock.converse-stream"
	RouteBedrockInvoke         = "bedrock.invoke"
	RouteBedrockInvokeStream   = "bedrock.invoke-stream"
	RouteSageMakerInvoke       = "sagemaker.invoke"
	RouteSageMakerInvokeStream = "sagemaker.invoke-stream"
	RouteOpenSearchSearch      = "opensearch.search"
	RouteGenericSearch         = "search.generic"
	RouteUnknown               = "unknown"
)

const (
	defaultRegion             = "us-east-1"
	defaultOutputTokens       = 16
	defaultDocuments          = 50
	defaultEmbeddingDimension = 8
	defaultAWSResponseFloor   = 2 * time.Millisecond
	// maxRequestBody bounds what the sim buffers per request; far above any
	// prompt a test sends, small enough that a runaway client cannot exhaust
	// memory.
	maxRequestBody = 64 << 20
)

// Options configure a Server. The zero value is usable: region us-east-1,
// no signature or API key verification, 16 output tokens, 50 documents.
type Options struct {
	Region          string // region this server plays, e.g. "us-east-1"; Bedrock/SageMaker requests must be SigV4-signed for it (service "bedrock" / "sagemaker")
	AccessKeyID     string // if set, SigV4 signatures are verified against AccessKeyID/SecretAccessKey (bad or missing signature -> 403 in AWS error shape, header x-amzn-ErrorType: UnrecognizedClientException or InvalidSignatureException)
	SecretAccessKey string
	APIKey          string // if set, OpenAI-compatible routes require "Authorization: Bearer <APIKey>" (else 401 in OpenAI error shape)
	OutputTokens    int    // completion tokens per answer when the request does not ask for fewer (default 16)
	Documents       int    // documents the search routes hold/return at most (default 50)

	// AWSResponseFloor is the least time a Bedrock or SageMaker request
	// waits before its first response byte (default 2ms; negative: none).
	// The aws-sdk-go-v2 client closes its request body as soon as response
	// headers arrive; when that beats net/http's final read of the body,
	// the transport closes the connection and an event stream dies mid-way
	// with "use of closed network connection". Real AWS never answers
	// within microseconds, so a small floor keeps tests from tripping over
	// this client-side race.
	AWSResponseFloor time.Duration

	// Quota is the provider quota this server (one Region) enforces; zero: none. SetQuota
	// changes it while running.
	Quota Quota
	// Now is the clock of the provider quota's rolling minute (default time.Now).
	Now func() time.Time

	// Addr is the listen address used by Start (default "127.0.0.1:0").
	// Only the command sets it; tests want a fresh loopback port.
	Addr string
}

// Faults are the knobs of injected misbehaviour. The zero value means a
// healthy upstream. Faults are applied after authentication, in the order
// Latency, ResetRate, ThrottleRate, ErrorRate; a request hit by one is not
// counted by the later ones, so each rate is exact when used alone and, when
// combined, ErrorRate is the fraction of requests neither reset nor
// throttled. SetFaults restarts the sequences.
type Faults struct {
	Latency          time.Duration // delay before response headers (every route)
	FirstTokenDelay  time.Duration // streaming: delay after headers before the first content event
	TokenInterval    time.Duration // streaming: delay between content events
	ThrottleRate     float64       // 0..1: fraction of requests answered 429 (OpenAI shape) / ThrottlingException (AWS shape, HTTP 429)
	ErrorRate        float64       // 0..1: fraction answered 500 (OpenAI) / InternalServerException or ServiceUnavailableException (AWS, 500/503)
	RetryAfter       time.Duration // if >0, throttled answers carry Retry-After (seconds, rounded up)
	ResetRate        float64       // 0..1: fraction of requests whose TCP connection is closed with no response (hijack and close)
	StallAfterEvents int           // streaming: if >0, after this many content events stop sending and hold the connection open until the client goes away
	OversizedBody    int           // if >0, non-streaming answers are padded to at least this many bytes

	// ErrorStatus picks the status of injected errors: 500 (the default)
	// answers InternalServerException (Bedrock) / InternalFailure
	// (SageMaker) / server_error (OpenAI); 503 answers
	// ServiceUnavailableException / ServiceUnavailable / 503.
	ErrorStatus int
	// StreamErrorAfterEvents, if >0, ends a stream after this many content
	// events with the protocol's in-stream error: an exception frame
	// (throttlingException for Bedrock, ModelStreamError for SageMaker) or
	// an SSE data line carrying {"error":{...}} for OpenAI.
	StreamErrorAfterEvents int
	// ResetAfterEvents, if >0, cuts a stream after this many content events
	// by closing the connection without ending the response, like an
	// upstream that dies mid-answer (counted in Stats.Resets).
	ResetAfterEvents int
}

// Stats are cumulative counters since Start (or the last ResetStats).
type Stats struct { // cumulative since start (or ResetStats)
	Requests                  map[string]int64 // by route: "openai.chat", "openai.chat.stream", "openai.embeddings", "bedrock.converse", "bedrock.converse-stream", "bedrock.invoke", "bedrock.invoke-stream", "sagemaker.invoke", "sagemaker.invoke-stream", "opensearch.search", "search.generic" (and "unknown")
	Throttled, Errors, Resets int64
	InputTokens, OutputTokens int64 // tokens SERVED in successful answers (what usage fields reported; a stream counts once it completes, with or without include_usage)
	SignatureFailures         int64
	LastModelID               string      // last Bedrock model id / SageMaker endpoint name / OpenAI model seen
	LastHeaders               http.Header // headers of the last request (tests check the app's Authorization was not forwarded, Accept-Encoding identity, etc.)

	// AuthFailures counts OpenAI-compatible requests refused for a missing
	// or wrong API key (SigV4 failures are in SignatureFailures).
	AuthFailures int64
	// Stalls counts streams held open by StallAfterEvents.
	Stalls int64
	// StreamErrors counts streams ended by StreamErrorAfterEvents.
	StreamErrors int64
	// QuotaThrottled counts the requests the provider quota refused (also in Throttled).
	QuotaThrottled int64
}

// faultState pairs one Faults value with the counters that choose which
// requests it hits. SetFaults swaps the whole pair, so a new setting starts
// its sequence afresh and an in-flight request keeps the knobs it started
// with.
type faultState struct {
	f        Faults
	resets   atomic.Int64
	throttle atomic.Int64
	errs     atomic.Int64
}

// Server is a running simulator. All methods are safe for concurrent use.
type Server struct {
	opts    Options
	faults  atomic.Pointer[faultState]
	ledger  quotaLedger
	seq     atomic.Int64 // numbers answers so their ids are unique
	done    chan struct{}
	closeMu sync.Once

	mu    sync.Mutex
	stats Stats

	ln  net.Listener
	srv *http.Server
	url string
}

// New returns a Server that is not listening; serve Handler() on your own
// listener. Start is New plus a loopback listener.
func New(opts Options) *Server {
	if opts.Region == "" {
		opts.Region = defaultRegion
	}
	if opts.OutputTokens <= 0 {
		opts.OutputTokens = defaultOutputTokens
	}
	if opts.Documents <= 0 {
		opts.Documents = defaultDocuments
	}
	if opts.AWSResponseFloor == 0 {
		opts.AWSResponseFloor = defaultAWSResponseFloor
	}
	s := &Server{opts: opts, done: make(chan struct{})}
	s.ledger.quota = opts.Quota
	s.faults.Store(&faultState{})
	s.stats.Requests = map[string]int64{}
	return s
}

// Start listens on 127.0.0.1:0 (or opts.Addr) and serves with net/http.
func Start(opts Options) (*Server, error) {
	s := New(opts)
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("upstreamsim: listen %s: %w", addr, err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
	}
	go func() {
		// Serve returns ErrServerClosed on Close; any other error means the
		// listener died, which the next request will show.
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// URL is the base URL, "http://127.0.0.1:PORT", or "" if the Server was made
// with New.
func (s *Server) URL() string { return s.url }

// Handler serves the simulated upstreams.
func (s *Server) Handler() http.Handler { return s }

// SetFaults atomically replaces the fault knobs. Requests already in flight
// finish with the knobs they started with.
func (s *Server) SetFaults(f Faults) {
	s.faults.Store(&faultState{f: f})
}

// Faults returns the current fault knobs.
func (s *Server) Faults() Faults { return s.faults.Load().f }

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.stats
	c.Requests = make(map[string]int64, len(s.stats.Requests))
	for k, v := range s.stats.Requests {
		c.Requests[k] = v
	}
	c.LastHeaders = s.stats.LastHeaders.Clone()
	return c
}

// ResetStats zeroes the counters. Fault sequences are not affected.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{Requests: map[string]int64{}}
}

// Close stops the listener, closes open connections and releases stalled
// streams.
func (s *Server) Close() {
	s.closeMu.Do(func() {
		close(s.done)
		if s.srv != nil {
			_ = s.srv.Close()
		}
	})
}

// update runs fn on the counters under the lock.
func (s *Server) update(fn func(st *Stats)) {
	s.mu.Lock()
	fn(&s.stats)
	s.mu.Unlock()
}

// fires reports whether the next request counted by n is hit by a fault of
// the given rate. Request number k is hit when floor(k*rate) advances, so
// over any run of requests the hit count is exact, and 0 and 1 mean never
// and always.
func fires(n *atomic.Int64, rate float64) bool {
	if rate <= 0 {
		return false
	}
	k := n.Add(1)
	if rate >= 1 {
		return true
	}
	return math.Floor(float64(k)*rate) > math.Floor(float64(k-1)*rate)
}

// wait sleeps for d unless the client goes away or the server closes first;
// it reports whether the full delay passed.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

// hold blocks until the client goes away or the server closes; it is how a
// stalled stream keeps its connection open.
func (s *Server) hold(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-s.done:
	}
}

// protocol selects the error shape of a route.
type protocol int

const (
	protoOpenAI protocol = iota
	protoBedrock
	protoSageMaker
	protoOpenSearch
	protoGeneric
)

// ServeHTTP routes on the end of the path, so any prefix in front of the
// provider path is accepted.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rt, ok := matchRoute(r.URL.EscapedPath())
	if !ok {
		s.update(func(st *Stats) {
			st.Requests[RouteUnknown]++
			st.LastHeaders = r.Header.Clone()
		})
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "upstreamsim: no route for " + r.URL.Path})
		return
	}
	if r.Method != http.MethodPost && (rt.proto != protoOpenSearch || r.Method != http.MethodGet) {
		w.Header().Set("Allow", http.MethodPost)
		s.writeError(w, rt.proto, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.writeError(w, rt.proto, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		s.writeError(w, rt.proto, http.StatusBadRequest, "cannot read request body")
		return
	}

	if rt.proto == protoBedrock || rt.proto == protoSageMaker {
		if !s.wait(r.Context(), s.opts.AWSResponseFloor) {
			return
		}
	}

	c := &call{s: s, w: w, r: r, start: start, route: rt, body: body}
	c.parse()
	s.update(func(st *Stats) {
		st.Requests[c.key]++
		if c.modelID != "" {
			st.LastModelID = c.modelID
		}
		st.LastHeaders = r.Header.Clone()
	})

	if !s.authorize(c) {
		return
	}
	fs := s.faults.Load()
	c.f = fs.f
	if !s.injectFaults(c, fs) {
		return
	}
	if c.parseErr != nil {
		s.writeError(w, rt.proto, http.StatusBadRequest, "malformed request body: "+c.parseErr.Error())
		return
	}
	if !c.reserveQuota() {
		return
	}
	c.serve()
}

// injectFaults applies latency, resets, throttling and errors in that
// order; it reports whether the request should be answered normally.
// Throttling counts only requests that were not reset, and errors only those
// neither reset nor throttled, so each rate is exact when used alone.
func (s *Server) injectFaults(c *call, fs *faultState) bool {
	f := fs.f
	if !s.wait(c.r.Context(), f.Latency) {
		return false
	}
	if fires(&fs.resets, f.ResetRate) {
		s.update(func(st *Stats) { st.Resets++ })
		resetConnection(c.w)
		return false
	}
	if fires(&fs.throttle, f.ThrottleRate) {
		s.update(func(st *Stats) { st.Throttled++ })
		if f.RetryAfter > 0 {
			secs := int64(math.Ceil(f.RetryAfter.Seconds()))
			c.w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		s.writeError(c.w, c.route.proto, http.StatusTooManyRequests, "Too many requests, please wait before trying again.")
		return false
	}
	if fires(&fs.errs, f.ErrorRate) {
		s.update(func(st *Stats) { st.Errors++ })
		status := http.StatusInternalServerError
		if f.ErrorStatus == http.StatusServiceUnavailable {
			status = http.StatusServiceUnavailable
		}
		s.writeError(c.w, c.route.proto, status, "injected upstream failure")
		return false
	}
	return true
}

// resetConnection closes the client's TCP connection without an answer. A
// zero linger turns the close into a RST, which is what a crashing upstream
// or a dropping load balancer looks like to the client.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// HTTP/2 or a recorder: the closest we can get is aborting the
		// handler, which net/http turns into a reset stream or closed conn.
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
