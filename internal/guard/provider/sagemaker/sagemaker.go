// Package sagemaker is the guard's SageMaker Runtime provider: InvokeEndpoint and
// InvokeEndpointWithResponseStream, SigV4-signed for the "sagemaker" service. The body is the
// model container's own format, so the prompt is estimated from its size and no clamp is
// possible; usage is read where the containers used for LLMs (vLLM, LMI, TGI messages API) put it,
// in the OpenAI format, whole or streamed inside PayloadPart events.
package sagemaker

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/breakwater-dev/breakwater/internal/guard/eventstream"
	"github.com/breakwater-dev/breakwater/internal/guard/inspect"
	"github.com/breakwater-dev/breakwater/internal/guard/provider"
	"github.com/breakwater-dev/breakwater/internal/guard/sse"
)

// Operation kinds.
const (
	Invoke = iota
	InvokeStream
)

// Provider is the SageMaker Runtime protocol.
type Provider struct{}

var _ provider.Model = Provider{}

// Name implements provider.Model.
func (Provider) Name() string { return "aws.sagemaker" }

// DefaultURL implements provider.Model.
func (Provider) DefaultURL(region string) string {
	return "https://runtime.sagemaker." + region + ".amazonaws.com"
}

// Route implements provider.Model: endpoints/{endpointName}/{operation}.
func (Provider) Route(rest string) (provider.Operation, bool) {
	segs := strings.Split(rest, "/")
	if len(segs) != 3 || segs[0] != "endpoints" {
		return provider.Operation{}, false
	}
	switch op := segs[2]; op {
	case "invocations":
		return provider.Operation{Kind: Invoke, Name: "generate_content", Suffix: op}, true
	case "invocations-response-stream":
		return provider.Operation{Kind: InvokeStream, Name: "generate_content", Suffix: op, Stream: true}, true
	}
	return provider.Operation{}, false
}

// Inspect implements provider.Model: the whole body counts as prompt; nothing is clamped.
func (Provider) Inspect(_ provider.Operation, body []byte, _ int64) (inspect.Info, []byte, error) {
	return inspect.Info{PromptTokens: inspect.EstimateTokens(len(body))}, body, nil
}

// Upstream implements provider.Model.
func (Provider) Upstream(op provider.Operation, t *provider.Target, query string, body []byte) (*url.URL, []byte) {
	return provider.Join(t.Base, "/endpoints/"+t.EndpointName+"/"+op.Suffix,
		"/endpoints/"+provider.AWSEscape(t.EndpointName)+"/"+op.Suffix, query), body
}

// Authenticate implements provider.Model.
func (Provider) Authenticate(ctx context.Context, a *provider.Auth, t *provider.Target, req *http.Request, body []byte) error {
	return a.SignAWS(ctx, req, body, "sagemaker", t.Region)
}

// Usage implements provider.Model: containers that speak the OpenAI format report usage as it does.
func (Provider) Usage(_ provider.Operation, _ http.Header, body []byte) provider.Usage {
	in, out, _, ok := sse.OpenAIUsage(body)
	return provider.Usage{In: in, Out: out, Seen: ok}
}

// Streams implements provider.Model.
func (Provider) Streams(_ provider.Operation, contentType string) bool {
	return provider.IsEventStream(contentType)
}

// RelayStream implements provider.Model: the event stream passes as it is, while a tap reads the
// container's OpenAI chunks out of its PayloadParts.
func (Provider) RelayStream(_ provider.Operation, s provider.Stream) (provider.StreamResult, error) {
	tap := newUsageTap(s.Src)
	res, err := eventstream.Relay(s.Dst, s.Flush, tap, s.FirstByte)
	out := provider.StreamResult{Failed: res.Exception != ""}
	switch {
	case res.UsageSeen:
		out.Usage = provider.Usage{In: res.InputTokens, Out: res.OutputTokens, Seen: true}
	case tap.seen:
		out.Usage = provider.Usage{In: tap.in, Out: tap.out, Seen: true}
	}
	return out, err
}

// WriteError implements provider.Model.
func (Provider) WriteError(w http.ResponseWriter, status int, _, message string) {
	provider.WriteAWSError(w, status, errorType(status), message)
}

// WriteStreamError implements provider.Model: a ModelStreamError frame, its members spelled as
// SageMaker spells them (the JavaScript SDK matches them exactly; "message" reads as "Unknown").
func (Provider) WriteStreamError(w io.Writer, _ provider.Operation, reason string) {
	provider.WriteEventStreamException(w, "ModelStreamError", map[string]string{
		"Message": provider.StreamInterrupted(reason), "ErrorCode": reason,
	})
}

// errorType picks an exception name the AWS SDKs know for the status.
func errorType(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "ThrottlingException"
	case status >= 500:
		return "ServiceUnavailable"
	default:
		return "ValidationError"
	}
}
