package guard

import (
	"encoding/json"
	"net/http"
)

// Reasons set in the X-Breakwater-Reason header and the rejections metric. Every one is listed in
// docs/guard.md; keep them in step.
const (
	ReasonRequestTooLarge      = "request_too_large"
	ReasonPromptTooLarge       = "prompt_too_large"
	ReasonInvalidRequest       = "invalid_request"
	ReasonUnknownRoute         = "unknown_route"
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

// shape is the error body format the app's SDK understands.
type shape int

const (
	shapeOpenAI shape = iota
	shapeBedrock
	shapeSageMaker
	shapeOpenSearch
	shapeGenericSearch
)

// writeError answers an error produced by the guard itself in the protocol's own shape, so the
// app's SDK parses it like any provider error. message is fixed text from the guard, never a
// fragment of the request.
func writeError(w http.ResponseWriter, sh shape, status int, reason, message string) {
	h := w.Header()
	h.Set(HeaderReason, reason)
	h.Set("Content-Type", "application/json")
	var body any
	switch sh {
	case shapeBedrock, shapeSageMaker:
		h.Set("X-Amzn-ErrorType", awsErrorType(sh, status))
		body = map[string]string{"message": message}
	case shapeOpenSearch:
		body = map[string]any{"error": map[string]string{"type": reason, "reason": message}, "status": status}
	case shapeGenericSearch:
		body = map[string]any{"error": map[string]string{"code": reason, "message": message}}
	default:
		body = map[string]any{"error": map[string]string{"message": message, "type": openAIErrorType(status), "code": reason}}
	}
	b, _ := json.Marshal(body)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func openAIErrorType(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

// awsErrorType picks an exception name the AWS SDKs know for the status, so that their retry
// classification (throttling, transient) works as it would against AWS.
func awsErrorType(sh shape, status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "ThrottlingException"
	case status == http.StatusGatewayTimeout && sh == shapeBedrock:
		return "ModelTimeoutException"
	case status >= 500 && sh == shapeBedrock:
		return "ServiceUnavailableException"
	case status >= 500:
		return "ServiceUnavailable"
	case sh == shapeSageMaker:
		return "ValidationError"
	default:
		return "ValidationException"
	}
}
