package upstreamsim

import (
	"crypto/subtle"
	"errors"
	"net/http"

	"github.com/breakwater-dev/breakwater/test/sigv4check"
)

// errUnrecognizedClient answers a request without a signature or with an unknown key.
const errUnrecognizedClient = sigv4check.CodeUnrecognizedKey

// authorize checks the caller's credentials for the route's protocol and
// answers the refusal itself; it reports whether the request may go on.
func (s *Server) authorize(c *call) bool {
	switch c.route.proto {
	case protoOpenAI:
		if s.opts.APIKey == "" {
			return true
		}
		want := "Bearer " + s.opts.APIKey
		got := c.r.Header.Get("Authorization")
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
			return true
		}
		s.update(func(st *Stats) { st.AuthFailures++ })
		writeOpenAIError(c.w, http.StatusUnauthorized, "Incorrect API key provided.")
		return false
	case protoBedrock, protoSageMaker:
		service := "bedrock"
		if c.route.proto == protoSageMaker {
			service = "sagemaker"
		}
		errType, err := s.verifySigV4(c.r, c.body, service)
		if err == nil {
			return true
		}
		s.update(func(st *Stats) { st.SignatureFailures++ })
		s.writeAWSError(c.w, http.StatusForbidden, errType, err.Error())
		return false
	}
	return true
}

// verifySigV4 checks a request's SigV4 signature for this server's region and the given service
// (test/sigv4check). The credential scope is always checked, so a request signed for the wrong region
// or service fails even without keys; the signature itself is recomputed when Options.AccessKeyID is
// set. It returns the AWS error code to answer with.
func (s *Server) verifySigV4(r *http.Request, body []byte, service string) (string, error) {
	_, err := sigv4check.Verify(r, body, sigv4check.Expect{
		Service: service, Regions: []string{s.opts.Region},
		AccessKeyID: s.opts.AccessKeyID, SecretAccessKey: s.opts.SecretAccessKey,
		MissingCode: errUnrecognizedClient,
	})
	var f *sigv4check.Failure
	if errors.As(err, &f) {
		return f.Code, f
	}
	return "", nil
}
