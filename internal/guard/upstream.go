package guard

import (
	"bytes"
	"context"
	"net/http"
	"strings"

	"github.com/breakwater-dev/breakwater/internal/guard/provider"
)

// hopHeaders are connection-level and never forwarded either way.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Proxy-Connection": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Http2-Settings": true, // from an app asking for an h2c upgrade; the guard serves it HTTP/1.1
}

// forwardHeaders copies the app's headers that are safe to send upstream: never its credentials
// (Authorization, x-api-key, api-key, X-Amz-* signing headers), never hop-by-hop or length and
// encoding headers that the guard sets itself, never AWS SDK attempt bookkeeping.
func forwardHeaders(in http.Header) http.Header {
	out := make(http.Header, len(in))
	for k, v := range in {
		ck := http.CanonicalHeaderKey(k)
		lk := strings.ToLower(ck)
		switch {
		case hopHeaders[ck], ck == "Authorization", ck == "Cookie", ck == "X-Api-Key", ck == "Api-Key",
			ck == "Content-Length", ck == "Accept-Encoding", ck == "Host", ck == "Expect",
			strings.HasPrefix(lk, "x-amz-"), strings.HasPrefix(lk, "amz-sdk-"):
			continue
		}
		out[ck] = append([]string(nil), v...)
	}
	// Compressed answers would have to be decompressed, or held back, to read usage and events.
	out.Set("Accept-Encoding", "identity")
	return out
}

// copyResponseHeaders passes the upstream's answer headers to the app, minus hop-by-hop ones and,
// when the guard may change the body, Content-Length.
func copyResponseHeaders(dst, src http.Header, keepLength bool) {
	for k, v := range src {
		if hopHeaders[k] || (!keepLength && k == "Content-Length") {
			continue
		}
		dst[k] = append([]string(nil), v...)
	}
}

// newUpstreamRequest builds one attempt's request to a target, authenticated for it by the
// endpoint's provider. The app's own credentials never pass (forwardHeaders).
func (g *Guard) newUpstreamRequest(ctx context.Context, ep *endpoint, t *target, op provider.Operation, r *http.Request, body []byte) (*http.Request, error) {
	u, body := ep.proto.Upstream(op, &t.up, r.URL.RawQuery, body)
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.URL = u
	req.Header = forwardHeaders(r.Header)
	if err := ep.proto.Authenticate(ctx, &g.auth, &t.up, req, body); err != nil {
		return nil, err
	}
	return req, nil
}
