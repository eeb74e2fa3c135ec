package awsfake

import (
	"encoding/json"
	"net/http"
)

type quotaKey struct{ region, service, code string }

// SetAppliedQuota sets the account's applied value of a quota, the one
// GetServiceQuota returns.
func (s *Server) SetAppliedQuota(region, serviceCode, quotaCode string, value float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applied[quotaKey{region, serviceCode, quotaCode}] = value
}

// ClearAppliedQuota removes the applied value, so GetServiceQuota answers
// NoSuchResourceException as it does for a quota the account never changed.
func (s *Server) ClearAppliedQuota(region, serviceCode, quotaCode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.applied, quotaKey{region, serviceCode, quotaCode})
}

// SetDefaultQuota sets the AWS default of a quota, the one
// GetAWSDefaultServiceQuota returns.
func (s *Server) SetDefaultQuota(region, serviceCode, quotaCode string, value float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.defaults[quotaKey{region, serviceCode, quotaCode}] = value
}

// quotaRequest is the input of both GetServiceQuota and
// GetAWSDefaultServiceQuota (ContextId only exists on the former).
type quotaRequest struct {
	ServiceCode string `json:"ServiceCode"`
	QuotaCode   string `json:"QuotaCode"`
	ContextId   string `json:"ContextId,omitempty"`
}

// serviceQuota is the ServiceQuota shape, reduced to what a TPM quota has.
type serviceQuota struct {
	ServiceCode string       `json:"ServiceCode"`
	ServiceName string       `json:"ServiceName"`
	QuotaArn    string       `json:"QuotaArn"`
	QuotaCode   string       `json:"QuotaCode"`
	QuotaName   string       `json:"QuotaName"`
	Value       float64      `json:"Value"`
	Unit        string       `json:"Unit"`
	Adjustable  bool         `json:"Adjustable"`
	GlobalQuota bool         `json:"GlobalQuota"`
	Period      *quotaPeriod `json:"Period,omitempty"`
}

type quotaPeriod struct {
	PeriodValue int    `json:"PeriodValue"`
	PeriodUnit  string `json:"PeriodUnit"`
}

func (s *Server) serveServiceQuotas(w http.ResponseWriter, r *http.Request, op, region string, body []byte) {
	rt := route{op: op, service: signingServiceQuotas, proto: protoJSON11}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		writeError(w, protoJSON11, badRequest(rt, "unexpected Content-Type "+ct))
		return
	}
	var in quotaRequest
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, protoJSON11, apiError{status: http.StatusBadRequest, code: "SerializationException", message: err.Error()})
		return
	}
	if in.ServiceCode == "" || in.QuotaCode == "" {
		writeError(w, protoJSON11, badRequest(rt, "ServiceCode and QuotaCode are required"))
		return
	}

	key := quotaKey{region, in.ServiceCode, in.QuotaCode}
	s.mu.Lock()
	var value float64
	var ok bool
	switch op {
	case OpGetServiceQuota:
		value, ok = s.applied[key]
	case OpGetAWSDefaultServiceQuota:
		value, ok = s.defaults[key]
	default:
		s.mu.Unlock()
		writeError(w, protoJSON11, apiError{status: http.StatusBadRequest, code: "UnknownOperationException", message: "unknown operation " + op})
		return
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, protoJSON11, apiError{status: http.StatusBadRequest, ns: "com.amazonaws.servicequotas", code: "NoSuchResourceException",
			message: "The request failed because the specified service quota does not exist."})
		return
	}

	q := serviceQuota{
		ServiceCode: in.ServiceCode,
		ServiceName: "Amazon Bedrock",
		QuotaArn:    "arn:aws:servicequotas:" + region + ":" + AccountID + ":" + in.ServiceCode + "/" + in.QuotaCode,
		QuotaCode:   in.QuotaCode,
		QuotaName:   "Tokens per minute (" + in.QuotaCode + ")",
		Value:       value,
		Unit:        "None",
		Adjustable:  true,
		Period:      &quotaPeriod{PeriodValue: 1, PeriodUnit: "MINUTE"},
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "fake-request-id")
	_ = json.NewEncoder(w).Encode(map[string]any{"Quota": q})
}
