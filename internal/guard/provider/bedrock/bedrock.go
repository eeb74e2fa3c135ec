// Package bedrock is the guard's Amazon Bedrock Runtime provider: Converse, ConverseStream,
// InvokeModel and InvokeModelWithResponseStream, SigV4-signed for the "bedrock" service, usage
// from the Converse answer's "usage", InvokeModel's token-count headers and the streams' metadata
// and invocation-metrics events, errors in the AWS JSON shape with exception names the AWS SDKs
// classify for retries.
package bedrock

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/breakwater-dev/breakwater/internal/guard/eventstream"
	"github.com/breakwater-dev/breakwater/internal/guard/inspect"
	"github.com/breakwater-dev/breakwater/internal/guard/provider"
)

// Operation kinds.
const (
	Converse = iota
	ConverseStream
	Invoke
	InvokeStream
)

// Provider is the Bedrock Runtime protocol.
type Provider struct{}

var _ provider.Model = Provider{}

// Name implements provider.Model.
func (Provider) Name() string { return "aws.bedrock" }

// DefaultURL implements provider.Model.
func (Provider) DefaultURL(region string) string {
	return "https://bedrock-runtime." + region + ".amazonaws.com"
}

// Route implements provider.Model: model/{modelId}/{operation}. An unescaped ARN may span
// several segments, and is replaced by the target's model anyway.
func (Provider) Route(rest string) (provider.Operation, bool) {
	segs := strings.Split(rest, "/")
	if len(segs) < 3 || segs[0] != "model" {
		return provider.Operation{}, false
	}
	switch op := segs[len(segs)-1]; op {
	case "converse":
		return provider.Operation{Kind: Converse, Name: "chat", Suffix: op}, true
	case "converse-stream":
		return provider.Operation{Kind: ConverseStream, Name: "chat", Suffix: op, Stream: true}, true
	case "invoke":
		return provider.Operation{Kind: Invoke, Name: "generate_content", Suffix: op}, true
	case "invoke-with-response-stream":
		return provider.Operation{Kind: InvokeStream, Name: "generate_content", Suffix: op, Stream: true}, true
	}
	return provider.Operation{}, false
}

// Inspect implements provider.Model.
func (Provider) Inspect(op provider.Operation, body []byte, clamp int64) (inspect.Info, []byte, error) {
	if op.Kind == Converse || op.Kind == ConverseStream {
		return inspect.BedrockConverse(body, clamp)
	}
	return inspect.BedrockInvoke(body, clamp)
}

// Upstream implements provider.Model.
func (Provider) Upstream(op provider.Operation, t *provider.Target, query string, body []byte) (*url.URL, []byte) {
	return provider.Join(t.Base, "/model/"+t.ModelID+"/"+op.Suffix, "/model/"+provider.AWSEscape(t.ModelID)+"/"+op.Suffix, query), body
}

// Authenticate implements provider.Model.
func (Provider) Authenticate(ctx context.Context, a *provider.Auth, t *provider.Target, req *http.Request, body []byte) error {
	return a.SignAWS(ctx, req, body, "bedrock", t.Region)
}

// Usage implements provider.Model.
func (Provider) Usage(op provider.Operation, h http.Header, body []byte) provider.Usage {
	if op.Kind == Invoke {
		// InvokeModel reports usage in headers whatever the model's body format.
		i, err1 := strconv.ParseInt(h.Get("X-Amzn-Bedrock-Input-Token-Count"), 10, 64)
		o, err2 := strconv.ParseInt(h.Get("X-Amzn-Bedrock-Output-Token-Count"), 10, 64)
		if err1 != nil || err2 != nil {
			return provider.Usage{}
		}
		return provider.Usage{In: i, Out: o, Seen: true}
	}
	i, o, _, ok := inspect.AnswerUsage(body, inspect.ConverseUsage)
	return provider.Usage{In: i, Out: o, Seen: ok}
}

// Streams implements provider.Model.
func (Provider) Streams(_ provider.Operation, contentType string) bool {
	return provider.IsEventStream(contentType)
}

// RelayStream implements provider.Model.
func (Provider) RelayStream(_ provider.Operation, s provider.Stream) (provider.StreamResult, error) {
	res, err := eventstream.Relay(s.Dst, s.Flush, s.Src, s.FirstByte)
	return provider.StreamResult{
		Usage:  provider.Usage{In: res.InputTokens, Out: res.OutputTokens, Seen: res.UsageSeen},
		Failed: res.Exception != "",
	}, err
}

// WriteError implements provider.Model.
func (Provider) WriteError(w http.ResponseWriter, status int, _, message string) {
	provider.WriteAWSError(w, status, errorType(status), message)
}

// WriteStreamError implements provider.Model: a modelStreamErrorException frame. When the break
// fell inside a frame the SDK fails on that frame's checksum instead: an error either way.
func (Provider) WriteStreamError(w io.Writer, _ provider.Operation, reason string) {
	provider.WriteEventStreamException(w, "modelStreamErrorException", map[string]string{"message": provider.StreamInterrupted(reason)})
}

// errorType picks an exception name the AWS SDKs know for the status, so that their retry
// classification (throttling, transient) works as it would against Bedrock.
func errorType(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "ThrottlingException"
	case status == http.StatusGatewayTimeout:
		return "ModelTimeoutException"
	case status == http.StatusNotFound:
		return "ResourceNotFoundException"
	case status >= 500:
		return "ServiceUnavailableException"
	default:
		return "ValidationException"
	}
}
