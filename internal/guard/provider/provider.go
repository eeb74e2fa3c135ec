// Package provider is the seam between the guard's proxy core and the protocols it speaks: one
// implementation of Model per model provider (internal/guard/provider/openai, bedrock, sagemaker)
// and one of Retrieval per retrieval backend type (opensearch, httpsearch). The core parses no
// provider path, builds no provider URL, signs nothing, reads no usage and writes no error body
// itself: it asks the endpoint's Model or the backend's Retrieval, which internal/guard/provider/registry
// picks from the config's enum. Providers stay free of metrics and of the core's state: they
// translate, the core decides (retries, breakers, quota, accounting).
package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsevents "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/breakwater-dev/breakwater/internal/guard/inspect"
)

// Operation is a parsed model route: what the app asked the provider to do.
type Operation struct {
	// Kind is the provider's own code for the operation; only the provider reads it.
	Kind int
	// Name is the gen_ai_operation_name label (chat, embeddings, generate_content).
	Name string
	// Suffix is the operation's last path segment(s) upstream.
	Suffix string
	// Stream reports an operation that always answers with a stream, whatever the body says.
	Stream bool
}

// Target is what a provider needs to know of one configured target.
type Target struct {
	Base         *url.URL // without a trailing slash
	ModelID      string
	EndpointName string
	Region       string
	APIKey       Secret // nil: no key configured
}

// Secret is a key read from a mounted Secret file; Value returns its current content.
type Secret interface{ Value() string }

// Auth is the guard's own identity, which providers authenticate upstream requests with.
type Auth struct {
	// Credentials sign AWS requests; nil when the guard has none (AWS targets then fail).
	Credentials aws.CredentialsProvider
	Signer      *v4.Signer
	Now         func() time.Time
}

// CredentialsError marks a failure to authenticate the guard itself: retrying at another target
// would not help, and the target is not to blame.
type CredentialsError struct{ Err error }

func (e CredentialsError) Error() string { return e.Err.Error() }
func (e CredentialsError) Unwrap() error { return e.Err }

// SignAWS signs req with SigV4 for service in region, as the AWS SDKs do.
func (a *Auth) SignAWS(ctx context.Context, req *http.Request, body []byte, service, region string) error {
	if a.Credentials == nil {
		return CredentialsError{errors.New("no AWS credentials provider configured")}
	}
	creds, err := a.Credentials.Retrieve(ctx)
	if err != nil {
		return CredentialsError{fmt.Errorf("retrieve AWS credentials: %w", err)}
	}
	sum := sha256.Sum256(body)
	if err := a.Signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, region, a.Now()); err != nil {
		return CredentialsError{err}
	}
	return nil
}

// Usage is the token usage an answer reported. Seen is false when it reported none.
type Usage struct {
	In, Out int64
	Seen    bool
}

// Stream is a streamed answer to relay to the app.
type Stream struct {
	Dst       io.Writer
	Flush     func()
	Src       io.Reader
	FirstByte func() // called once just before the first byte goes to Dst
	// AskedUsage: the app asked for usage itself; otherwise a usage-only event the provider made
	// the upstream add (Inspect) is hidden from it.
	AskedUsage bool
}

// StreamResult is what the provider learned from a relayed stream.
type StreamResult struct {
	Usage
	// Failed: the upstream reported an error inside the stream.
	Failed bool
}

// Model is one model provider's protocol. Implementations are stateless values, safe for
// concurrent use.
type Model interface {
	// Name is the gen_ai_provider_name label.
	Name() string
	// DefaultURL is the base URL of a target in region that names no URL ("" when one is required).
	DefaultURL(region string) string
	// Route parses the escaped path after /m/{endpoint}/; false when it is not an operation of
	// this provider the guard supports.
	Route(rest string) (Operation, bool)
	// Inspect estimates the request's prompt tokens and clamps its output tokens to clamp (0: no
	// clamp), returning the body to send. An error means the body is not valid for op.
	Inspect(op Operation, body []byte, clamp int64) (inspect.Info, []byte, error)
	// Upstream returns the target's URL for op (the target's model or endpoint in place of the
	// app's) and the body to send it.
	Upstream(op Operation, t *Target, query string, body []byte) (*url.URL, []byte)
	// Authenticate adds the guard's credentials for the target to req (a CredentialsError when
	// it cannot).
	Authenticate(ctx context.Context, a *Auth, t *Target, req *http.Request, body []byte) error
	// Usage reads the usage of a whole (non-streamed) answer.
	Usage(op Operation, h http.Header, body []byte) Usage
	// Streams reports whether an answer to op with this content type is a stream to relay with
	// RelayStream; any other answer is relayed whole.
	Streams(op Operation, contentType string) bool
	// RelayStream passes a stream to the app unchanged (but for a hidden usage-only event) and
	// reads its usage and in-stream errors on the way.
	RelayStream(op Operation, s Stream) (StreamResult, error)
	// WriteError answers an error made by the guard in the provider's own error shape, so that
	// the app's SDK parses it as it would the provider's. message is the guard's fixed text.
	WriteError(w http.ResponseWriter, status int, reason, message string)
	// WriteStreamError ends a stream that broke after the app had part of it with one error
	// event the app's SDK reports as an error.
	WriteStreamError(w io.Writer, op Operation, reason string)
}

// Retrieval is one retrieval backend type's protocol.
type Retrieval interface {
	// CapRequest lowers the document count the search asks for to limit; capped reports a cut.
	// query may be changed in place. An error means the body is not valid JSON.
	CapRequest(body []byte, query url.Values, limit int) (out []byte, capped bool, err error)
	// ResultsPath is the dotted path of the answer's result array ("" when unknown).
	ResultsPath() string
	// Empty is a valid answer with no documents.
	Empty() []byte
	// WriteError answers an error made by the guard in the backend's error shape.
	WriteError(w http.ResponseWriter, status int, reason, message string)
}

// StreamInterrupted is the message of the in-stream error that ends a broken stream.
func StreamInterrupted(reason string) string {
	return "the upstream stream was interrupted (" + reason + "); the answer is incomplete"
}

// WriteJSON answers status with a JSON body.
func WriteJSON(w http.ResponseWriter, status int, body any) {
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// WriteAWSError answers in the AWS JSON protocols' error shape: the exception name in
// X-Amzn-ErrorType and {"message": ...} as the body, which every AWS SDK parses.
func WriteAWSError(w http.ResponseWriter, status int, errorType, message string) {
	w.Header().Set("X-Amzn-ErrorType", errorType)
	WriteJSON(w, status, map[string]string{"message": message})
}

// Join appends escaped and unescaped path segments to a target's base URL and sets the query.
func Join(base *url.URL, path, escapedPath, query string) *url.URL {
	u := *base
	u.RawPath = base.EscapedPath() + escapedPath
	u.Path = base.Path + path
	u.RawQuery = query
	return &u
}

// AWSEscape escapes a path label as the AWS SDKs do: everything but unreserved characters, '/'
// and ':' included, so that an inference-profile ARN stays one segment.
func AWSEscape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// WriteEventStreamException writes one AWS event-stream exception frame, which the AWS SDKs raise
// as an error of that type. payload holds the exception's members, spelled as the service spells
// them: the JavaScript SDK matches member names exactly.
func WriteEventStreamException(w io.Writer, exceptionType string, payload any) {
	data, _ := json.Marshal(payload)
	m := awsevents.Message{Payload: data}
	m.Headers.Set(":message-type", awsevents.StringValue("exception"))
	m.Headers.Set(":exception-type", awsevents.StringValue(exceptionType))
	m.Headers.Set(":content-type", awsevents.StringValue("application/json"))
	_ = awsevents.NewEncoder().Encode(w, m)
}

// IsEventStream reports an AWS event-stream content type.
func IsEventStream(contentType string) bool {
	return strings.HasPrefix(contentType, "application/vnd.amazon.eventstream")
}
