// Package awsfake is a local stand-in for the AWS APIs Breakwater's metric
// sources read: Service Quotas (AWS JSON 1.1), CloudWatch GetMetricData
// (Smithy RPC v2 CBOR) and the Bedrock control plane (REST-JSON).
//
// It exists so tests can drive the real aws-sdk-go-v2 clients, pointed at it
// with BaseEndpoint, through the same bytes AWS would send: request shapes,
// reply shapes, error shapes, paging and SigV4. A fake that only matched our
// own expectations of AWS would let a protocol mistake through; one that
// speaks the protocol makes the SDK itself the judge.
//
// One server answers all three services; the service a request is for is
// taken from its route and must match the service in its SigV4 credential
// scope, and the region in that scope selects which region's data answers.
package awsfake

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Operation names, as AWS spells them; faults and call counts are keyed by them.
const (
	OpGetServiceQuota           = "GetServiceQuota"
	OpGetAWSDefaultServiceQuota = "GetAWSDefaultServiceQuota"
	OpGetMetricData             = "GetMetricData"
	OpListFoundationModels      = "ListFoundationModels"
	OpListInferenceProfiles     = "ListInferenceProfiles"
)

// Signing names of the services, as they appear in the SigV4 credential scope.
const (
	signingServiceQuotas = "servicequotas"
	signingCloudWatch    = "monitoring"
	signingBedrock       = "bedrock"
)

// AccountID is the account every ARN the fake hands out belongs to.
const AccountID = "123456789012"

// Options configures a Server.
type Options struct {
	// AccessKeyID and SecretAccessKey are the only credentials accepted;
	// every request's signature is recomputed with them.
	AccessKeyID     string
	SecretAccessKey string
	// Regions the fake answers for; a request scoped to any other region
	// is refused, as AWS refuses a credential scoped to the wrong region.
	Regions []string
}

// Server is a running fake. Its knobs may be turned while requests are in
// flight; every method is safe for concurrent use.
type Server struct {
	opts Options
	srv  *httptest.Server

	mu       sync.Mutex
	applied  map[quotaKey]float64
	defaults map[quotaKey]float64
	points   map[pointKey][]Datapoint
	statuses map[pointKey]string
	models   map[string][]FoundationModel
	profiles map[string][]InferenceProfile

	metricPageSize  int
	profilePageSize int

	throttle map[string]int
	deny     map[string]bool
	latency  time.Duration

	calls             map[callKey]int
	signatureFailures int
}

type callKey struct{ op, region string }

// New starts a fake on 127.0.0.1 with an OS-chosen port. Close it when done.
func New(opts Options) *Server {
	s := &Server{
		opts:            opts,
		applied:         map[quotaKey]float64{},
		defaults:        map[quotaKey]float64{},
		points:          map[pointKey][]Datapoint{},
		statuses:        map[pointKey]string{},
		models:          map[string][]FoundationModel{},
		profiles:        map[string][]InferenceProfile{},
		metricPageSize:  100800, // CloudWatch's own cap on datapoints per GetMetricData call.
		profilePageSize: 1000,
		throttle:        map[string]int{},
		deny:            map[string]bool{},
		calls:           map[callKey]int{},
	}
	s.srv = httptest.NewServer(s)
	return s
}

// URL is the base endpoint to hand the SDK clients (BaseEndpoint).
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// ThrottleNext makes the next n calls of op (in any region) fail with the
// service's own throttling error.
func (s *Server) ThrottleNext(op string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle[op] = n
}

// DenyAccess makes every call of op fail with the service's access-denied
// error until it is called again with false.
func (s *Server) DenyAccess(op string, deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny[op] = deny
}

// SetLatency delays every reply by d (the wait ends early if the client
// gives up), to exercise callers' timeouts.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Calls reports how many correctly signed calls of op for region reached
// the fake, including those answered with an injected fault.
func (s *Server) Calls(op, region string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[callKey{op, region}]
}

// SignatureFailures reports how many requests were refused for their SigV4
// signature or credential scope.
func (s *Server) SignatureFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signatureFailures
}

// protocol is the wire protocol a request arrived in; errors are written in it.
type protocol int

const (
	protoJSON11 protocol = iota
	protoCBOR
	protoRESTJSON
)

// route is what the fake understood a request to be.
type route struct {
	op      string
	service string // signing name expected in the credential scope
	proto   protocol
}

// routeOf identifies the operation the way each protocol encodes it: the
// X-Amz-Target header (AWS JSON), the URI (RPC v2 CBOR) or method and path
// (REST-JSON). The boolean is false for anything the fake does not serve.
func routeOf(r *http.Request) (route, bool) {
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		op, ok := strings.CutPrefix(target, "ServiceQuotasV20190624.")
		if !ok || r.Method != http.MethodPost || r.URL.Path != "/" {
			return route{}, false
		}
		return route{op: op, service: signingServiceQuotas, proto: protoJSON11}, true
	}
	if op, ok := strings.CutPrefix(r.URL.Path, "/service/GraniteServiceVersion20100801/operation/"); ok {
		if r.Method != http.MethodPost {
			return route{}, false
		}
		return route{op: op, service: signingCloudWatch, proto: protoCBOR}, true
	}
	if r.Method == http.MethodGet {
		switch r.URL.Path {
		case "/foundation-models":
			return route{op: OpListFoundationModels, service: signingBedrock, proto: protoRESTJSON}, true
		case "/inference-profiles":
			return route{op: OpListInferenceProfiles, service: signingBedrock, proto: protoRESTJSON}, true
		}
	}
	return route{}, false
}

// ServeHTTP authenticates, counts, applies faults, then answers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	rt, ok := routeOf(r)
	if !ok {
		// Unknown routes answer as REST-JSON would; the SDK turns this into
		// an UnknownOperationException the test will show.
		writeError(w, protoRESTJSON, apiError{status: http.StatusNotFound, code: "UnknownOperationException", message: "no such operation: " + r.Method + " " + r.URL.Path})
		return
	}
	region, aerr := s.verifySigV4(r, body, rt.service)
	if aerr != nil {
		s.mu.Lock()
		s.signatureFailures++
		s.mu.Unlock()
		writeError(w, rt.proto, *aerr)
		return
	}

	s.mu.Lock()
	s.calls[callKey{rt.op, region}]++
	latency := s.latency
	var fault *apiError
	switch {
	case s.deny[rt.op]:
		e := accessDenied(rt)
		fault = &e
	case s.throttle[rt.op] > 0:
		s.throttle[rt.op]--
		e := throttled(rt)
		fault = &e
	}
	s.mu.Unlock()

	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	if fault != nil {
		writeError(w, rt.proto, *fault)
		return
	}

	switch rt.proto {
	case protoJSON11:
		s.serveServiceQuotas(w, r, rt.op, region, body)
	case protoCBOR:
		s.serveCloudWatch(w, r, rt.op, region, body)
	case protoRESTJSON:
		s.serveBedrock(w, r, rt.op, region)
	}
}
