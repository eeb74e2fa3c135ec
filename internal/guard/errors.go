package guard

import (
	"net/http"
	"strconv"
	"time"
)

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
	ReasonAdmissionExhausted   = "admission_exhausted"
	ReasonAdmissionShed        = "admission_shed"
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
	// HeaderShouldRetry is read by the OpenAI SDKs (and the other Stainless-generated ones, such
	// as Anthropic's) before their own status rules: "false" stops their retries.
	HeaderShouldRetry = "X-Should-Retry"
)

// noRetry are the guard's own refusals that an app's retry a moment later cannot turn into a
// success: the quota's state changes with the manager's evaluation, not within a request, and the
// guard has already spent the retry budget. Retrying them only multiplies load (the AWS SDKs,
// which do not read HeaderShouldRetry, retry throttles anyway; each retry is refused at once,
// without an upstream call). Client errors are listed so the answer says it, not only the status.
var noRetry = map[string]bool{
	ReasonQuotaShed: true, ReasonQuotaExhausted: true, ReasonAdmissionShed: true, ReasonRetryBudgetExhausted: true,
	ReasonRequestTooLarge: true, ReasonPromptTooLarge: true, ReasonInvalidRequest: true,
	ReasonUnknownRoute: true, ReasonProtocolMismatch: true,
}

// setRetryAfter tells the app when a refusal may pass, in whole seconds rounded up (Retry-After
// has no finer unit; the AWS and OpenAI SDKs both read it), so a retry does not arrive early.
func setRetryAfter(h http.Header, d time.Duration) {
	if d <= 0 {
		return
	}
	h.Set("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
}

// errorWriter answers an error in a protocol's own shape: a provider.Model or provider.Retrieval.
type errorWriter interface {
	WriteError(w http.ResponseWriter, status int, reason, message string)
}

// writeError answers an error produced by the guard itself in the protocol's own shape, so the
// app's SDK parses it like any provider error. message is fixed text from the guard, never a
// fragment of the request.
func writeError(w http.ResponseWriter, proto errorWriter, status int, reason, message string) {
	setReason(w.Header(), reason)
	proto.WriteError(w, status, reason, message)
}

// setReason sets the reason header of a failed answer, guard-made or passed on, and tells the
// app's SDK not to retry what a retry cannot fix.
func setReason(h http.Header, reason string) {
	h.Set(HeaderReason, reason)
	if noRetry[reason] {
		h.Set(HeaderShouldRetry, "false")
	}
}
