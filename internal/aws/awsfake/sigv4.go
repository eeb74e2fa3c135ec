package awsfake

import (
	"errors"
	"net/http"

	"github.com/breakwater-dev/breakwater/test/sigv4check"
)

// verifySigV4 checks a request the way AWS does (test/sigv4check): the credential scope must name
// the service the route belongs to and a region the fake serves, and the signature must match. It
// returns the scope's region, which selects the data that answers, or the error to reply with.
func (s *Server) verifySigV4(r *http.Request, body []byte, service string) (string, *apiError) {
	region, err := sigv4check.Verify(r, body, sigv4check.Expect{
		Service: service, Regions: s.opts.Regions, AccessKeyID: s.opts.AccessKeyID, SecretAccessKey: s.opts.SecretAccessKey,
	})
	var f *sigv4check.Failure
	if errors.As(err, &f) {
		return "", &apiError{status: http.StatusForbidden, code: f.Code, message: f.Message}
	}
	return region, nil
}
