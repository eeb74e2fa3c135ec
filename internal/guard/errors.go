package guard

import "net/http"

// Reasons set in the X-Breakwater-Reason header and the rejections metric. Every one is listed in
// docs/guard.md; keep them in step.
const (
	ReasonRequestTooLarge      = "request_too_large"
	ReasonPromptTooLarge       = "prompt_too_large"
	ReasonInvalidRequest       = "invalid_request"
	ReasonUnknownRoute         = "unknown_route"
	ReasonProtocolMismatch     = "protocol_mismatch"
	ReasonNotReady             = "not_ready"
	ReasonQuotaExhausted       = "quota_exhausted"
	ReasonQuotaShed            = "quota_shed"
	ReasonCircuitOpen          = "circuit_open"
	ReasonNoHealthyTarget      = "no_healthy_target"
	ReasonUpstreamTimeout      = "upstream_timeout"
	ReasonFirstTokenTimeout    = "first_token_timeout"
	ReasonStreamIdleTimeout    = "stream_idle_timeout"
	ReasonRetryBudgetExhausted = "retry_budget_exhausted"
	ReasonUpstreamUnavailable  = "upstream_unavailable"
	ReasonUpstreamThrottled    = "upstream_throttled"
	ReasonUpstreamError        = "upstream_error"
	ReasonCredentials          = "credentials_unavailable"
	ReasonResponseTooLarge     = "response_too_large"
	ReasonDocumentsCapped      = "documents_capped"
	ReasonRetrievalDegraded    = "retrieval_degraded"
)

// Response headers set by the guard.
const (
	HeaderReason   = "X-Breakwater-Reason"
	HeaderTarget   = "X-Breakwater-Target"
	HeaderAttempts = "X-Breakwater-Attempts"
	HeaderDegraded = "X-Breakwater-Degraded"
)

// errorWriter answers an error in a protocol's own shape: a provider.Model or provider.Retrieval.
type errorWriter interface {
	WriteError(w http.ResponseWriter, status int, reason, message string)
}

// writeError answers an error produced by the guard itself in the protocol's own shape, so the
// app's SDK parses it like any provider error. message is fixed text from the guard, never a
// fragment of the request.
func writeError(w http.ResponseWriter, proto errorWriter, status int, reason, message string) {
	w.Header().Set(HeaderReason, reason)
	proto.WriteError(w, status, reason, message)
}
