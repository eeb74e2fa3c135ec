package upstreamsim

import (
	"net/http"
	"strconv"
)

// writeError answers an error in the shape of the route's protocol, so each
// client reports it as its provider's own error type.
func (s *Server) writeError(w http.ResponseWriter, p protocol, status int, msg string) {
	switch p {
	case protoOpenAI:
		writeOpenAIError(w, status, msg)
	case protoBedrock:
		s.writeAWSError(w, status, bedrockErrorType(status), msg)
	case protoSageMaker:
		s.writeAWSError(w, status, sageMakerErrorType(status), msg)
	case protoOpenSearch:
		writeOpenSearchError(w, status, msg)
	default:
		writeJSON(w, status, map[string]string{"error": msg})
	}
}

// openAIError is the OpenAI error envelope.
type openAIError struct {
	Error openAIErrorBody `json:"error"`
}

type openAIErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func writeOpenAIError(w http.ResponseWriter, status int, msg string) {
	typ, code := "invalid_request_error", ""
	switch status {
	case http.StatusUnauthorized:
		code = "invalid_api_key"
	case http.StatusNotFound:
		code = "not_found"
	case http.StatusTooManyRequests:
		typ, code = "requests", "rate_limit_exceeded"
	case http.StatusInternalServerError:
		typ, code = "server_error", "server_error"
	case http.StatusServiceUnavailable:
		typ, code = "server_error", "service_unavailable"
	}
	body := openAIError{Error: openAIErrorBody{Message: msg, Type: typ}}
	if code != "" {
		body.Error.Code = &code
	}
	writeJSON(w, status, body)
}

func bedrockErrorType(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "ThrottlingException"
	case http.StatusInternalServerError:
		return "InternalServerException"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailableException"
	case http.StatusNotFound:
		return "ResourceNotFoundException"
	case http.StatusForbidden:
		return "AccessDeniedException"
	}
	return "ValidationException"
}

func sageMakerErrorType(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		// Not modelled by the SageMaker Runtime API, but what the service
		// sends when it throttles; the SDK treats the code as throttling.
		return "ThrottlingException"
	case http.StatusInternalServerError:
		return "InternalFailure"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailable"
	}
	return "ValidationError"
}

// writeAWSError answers in the REST-JSON error shape: the error code in
// x-amzn-ErrorType, the message in the body.
func (s *Server) writeAWSError(w http.ResponseWriter, status int, errType, msg string) {
	w.Header().Set("X-Amzn-Errortype", errType)
	w.Header().Set("X-Amzn-Requestid", "sim-"+strconv.FormatInt(s.seq.Add(1), 10))
	writeJSON(w, status, map[string]string{"message": msg})
}

// openSearchError is OpenSearch's error envelope.
type openSearchError struct {
	Error struct {
		RootCause []openSearchCause `json:"root_cause"`
		openSearchCause
	} `json:"error"`
	Status int `json:"status"`
}

type openSearchCause struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

func writeOpenSearchError(w http.ResponseWriter, status int, msg string) {
	typ := "parsing_exception"
	switch {
	case status == http.StatusTooManyRequests:
		typ = "rejected_execution_exception"
	case status >= 500:
		typ = "internal_server_error"
	}
	var body openSearchError
	body.Error.openSearchCause = openSearchCause{Type: typ, Reason: msg}
	body.Error.RootCause = []openSearchCause{body.Error.openSearchCause}
	body.Status = status
	writeJSON(w, status, body)
}
