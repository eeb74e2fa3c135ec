// Package openai is the guard's OpenAI-compatible provider (OpenAI, Azure OpenAI, vLLM and other
// servers of the same API): chat completions and embeddings, API-key authentication, usage from
// the answer's "usage" object (streamed: the final chunk, which the guard asks for), errors as
// {"error":{"message","type","code"}}.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/breakwater-dev/breakwater/internal/guard/inspect"
	"github.com/breakwater-dev/breakwater/internal/guard/provider"
	"github.com/breakwater-dev/breakwater/internal/guard/sse"
)

// Operation kinds.
const (
	Chat = iota
	Embeddings
)

// Provider is the OpenAI-compatible protocol.
type Provider struct{}

var _ provider.Model = Provider{}

// Name implements provider.Model.
func (Provider) Name() string { return "openai" }

// DefaultURL implements provider.Model: OpenAI-compatible targets always name their URL.
func (Provider) DefaultURL(string) string { return "" }

// Route implements provider.Model: {v1/}chat/completions and {v1/}embeddings.
func (Provider) Route(rest string) (provider.Operation, bool) {
	switch strings.TrimPrefix(strings.TrimSuffix(rest, "/"), "v1/") {
	case "chat/completions":
		return provider.Operation{Kind: Chat, Name: "chat", Suffix: "chat/completions"}, true
	case "embeddings":
		return provider.Operation{Kind: Embeddings, Name: "embeddings", Suffix: "embeddings"}, true
	}
	return provider.Operation{}, false
}

// Inspect implements provider.Model.
func (Provider) Inspect(op provider.Operation, body []byte, clamp int64) (inspect.Info, []byte, error) {
	if op.Kind == Embeddings {
		info, err := inspect.OpenAIEmbeddings(body)
		return info, body, err
	}
	return inspect.OpenAIChat(body, clamp)
}

// Upstream implements provider.Model: the base URL (which carries any /v1) plus the operation,
// with the target's model in the body.
func (Provider) Upstream(op provider.Operation, t *provider.Target, query string, body []byte) (*url.URL, []byte) {
	if t.ModelID != "" {
		body = ReplaceModel(body, t.ModelID)
	}
	seg := "/" + op.Suffix
	return provider.Join(t.Base, seg, seg, query), body
}

// Authenticate implements provider.Model: the target's API key as a bearer token.
func (Provider) Authenticate(_ context.Context, _ *provider.Auth, t *provider.Target, req *http.Request, _ []byte) error {
	if t.APIKey != nil {
		req.Header.Set("Authorization", "Bearer "+t.APIKey.Value())
	}
	return nil
}

// Usage implements provider.Model.
func (Provider) Usage(_ provider.Operation, _ http.Header, body []byte) provider.Usage {
	in, out, _, ok := sse.OpenAIUsage(body)
	return provider.Usage{In: in, Out: out, Seen: ok}
}

// Streams implements provider.Model: chat with stream=true answers Server-Sent Events.
func (Provider) Streams(_ provider.Operation, contentType string) bool {
	return strings.HasPrefix(contentType, "text/event-stream")
}

// RelayStream implements provider.Model.
func (Provider) RelayStream(_ provider.Operation, s provider.Stream) (provider.StreamResult, error) {
	return relaySSE(s)
}

// relaySSE relays an OpenAI chat completions SSE stream: usage from the final chunk (hidden when
// the guard asked for it on the app's behalf), and an "error" event marks the stream failed.
func relaySSE(s provider.Stream) (provider.StreamResult, error) {
	var res provider.StreamResult
	_, err := sse.Relay(s.Dst, s.Flush, s.Src, func(data []byte) bool {
		if bytes.HasPrefix(bytes.TrimSpace(data), []byte(`{"error"`)) {
			res.Failed = true
		}
		in, out, usageOnly, ok := sse.OpenAIUsage(data)
		if ok {
			res.In, res.Out, res.Seen = in, out, true
		}
		// The guard asked for the usage chunk itself when the app did not: hide it.
		return usageOnly && !s.AskedUsage
	}, s.FirstByte)
	return res, err
}

// WriteError implements provider.Model.
func (Provider) WriteError(w http.ResponseWriter, status int, reason, message string) {
	provider.WriteJSON(w, status, map[string]any{"error": map[string]string{"message": message, "type": errorType(status), "code": reason}})
}

// WriteStreamError implements provider.Model: an SSE event whose data is an OpenAI error object.
func (Provider) WriteStreamError(w io.Writer, _ provider.Operation, reason string) {
	payload, _ := json.Marshal(map[string]any{"error": map[string]string{
		"message": provider.StreamInterrupted(reason), "type": "upstream_error", "code": reason,
	}})
	_, _ = io.WriteString(w, "data: "+string(payload)+"\n\n")
}

func errorType(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

// ReplaceModel sets the body's top-level "model" to the target's model. The body was parsed
// already, so a failure here leaves it unchanged.
func ReplaceModel(body []byte, model string) []byte {
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
