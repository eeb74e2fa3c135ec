package guard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/breakwater-dev/breakwater/internal/guardconfig"
)

// opKind is the provider operation a request path names.
type opKind int

const (
	opChat opKind = iota
	opEmbeddings
	opConverse
	opConverseStream
	opInvoke
	opInvokeStream
	opSageMaker
	opSageMakerStream
)

// operation is a parsed model route.
type operation struct {
	kind   opKind
	name   string // gen_ai_operation_name
	suffix string // the operation's last path segment(s) upstream
}

// parseModelRoute recognises the provider paths under /m/{endpoint}/. rest is escaped.
func parseModelRoute(p guardconfig.Provider, rest string) (operation, bool) {
	switch p {
	case guardconfig.OpenAI:
		switch strings.TrimPrefix(strings.TrimSuffix(rest, "/"), "v1/") {
		case "chat/completions":
			return operation{kind: opChat, name: "chat", suffix: "chat/completions"}, true
		case "embeddings":
			return operation{kind: opEmbeddings, name: "embeddings", suffix: "embeddings"}, true
		}
	case guardconfig.Bedrock:
		// model/{modelId}/{op}; an unescaped ARN may span several segments, and is replaced anyway.
		segs := strings.Split(rest, "/")
		if len(segs) < 3 || segs[0] != "model" {
			return operation{}, false
		}
		switch op := segs[len(segs)-1]; op {
		case "converse":
			return operation{kind: opConverse, name: "chat", suffix: op}, true
		case "converse-stream":
			return operation{kind: opConverseStream, name: "chat", suffix: op}, true
		case "invoke":
			return operation{kind: opInvoke, name: "generate_content", suffix: op}, true
		case "invoke-with-response-stream":
			return operation{kind: opInvokeStream, name: "generate_content", suffix: op}, true
		}
	case guardconfig.SageMaker:
		segs := strings.Split(rest, "/")
		if len(segs) != 3 || segs[0] != "endpoints" {
			return operation{}, false
		}
		switch op := segs[2]; op {
		case "invocations":
			return operation{kind: opSageMaker, name: "generate_content", suffix: op}, true
		case "invocations-response-stream":
			return operation{kind: opSageMakerStream, name: "generate_content", suffix: op}, true
		}
	}
	return operation{}, false
}

// eventStream reports whether the operation answers with an AWS event stream.
func (o operation) eventStream() bool {
	return o.kind == opConverseStream || o.kind == opInvokeStream || o.kind == opSageMakerStream
}

// upstreamURL builds the target's URL for the operation, with the target's model or endpoint
// name in place of the app's.
func upstreamURL(t *target, op operation, query string) *url.URL {
	u := *t.base
	var seg, escSeg string
	switch op.kind {
	case opChat, opEmbeddings:
		seg = "/" + op.suffix
		escSeg = seg
	case opSageMaker, opSageMakerStream:
		seg = "/endpoints/" + t.cfg.EndpointName + "/" + op.suffix
		escSeg = "/endpoints/" + awsEscape(t.cfg.EndpointName) + "/" + op.suffix
	default:
		seg = "/model/" + t.cfg.ModelID + "/" + op.suffix
		escSeg = "/model/" + awsEscape(t.cfg.ModelID) + "/" + op.suffix
	}
	u.RawPath = t.base.EscapedPath() + escSeg
	u.Path = t.base.Path + seg
	u.RawQuery = query
	return &u
}

// awsEscape escapes a path label as the AWS SDKs do: everything but unreserved characters, '/'
// and ':' included, so that an inference-profile ARN stays one segment.
func awsEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// hopHeaders are connection-level and never forwarded either way.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Proxy-Connection": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
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

// newUpstreamRequest builds one attempt's request to a target, authenticated for it.
func (g *Guard) newUpstreamRequest(ctx context.Context, ep *endpoint, t *target, op operation, r *http.Request, body []byte) (*http.Request, error) {
	if t.cfg.ModelID != "" && (op.kind == opChat || op.kind == opEmbeddings) {
		body = replaceModel(body, t.cfg.ModelID)
	}
	u := upstreamURL(t, op, r.URL.RawQuery)
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.URL = u
	req.Header = forwardHeaders(r.Header)
	switch ep.cfg.Provider {
	case guardconfig.OpenAI:
		if t.apiKey != nil {
			req.Header.Set("Authorization", "Bearer "+t.apiKey.Value())
		}
	default:
		creds, err := g.credentials(ctx)
		if err != nil {
			return nil, errCredentials{err}
		}
		service := "bedrock"
		if ep.cfg.Provider == guardconfig.SageMaker {
			service = "sagemaker"
		}
		sum := sha256.Sum256(body)
		if err := g.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, t.cfg.Region, g.now()); err != nil {
			return nil, errCredentials{err}
		}
	}
	return req, nil
}

// errCredentials marks a failure to authenticate the guard itself; retrying elsewhere would not help.
type errCredentials struct{ error }

// replaceModel sets the body's top-level "model" to the target's model. The body was parsed
// already, so a failure here leaves it unchanged.
func replaceModel(body []byte, model string) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return body
	}
	v, _ := json.Marshal(model)
	m["model"] = v
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}
