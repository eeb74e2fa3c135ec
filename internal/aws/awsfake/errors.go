package awsfake

import (
	"encoding/json"
	"net/http"

	"github.com/aws/smithy-go/encoding/cbor"
)

// apiError is an AWS error reply, protocol independent until written.
type apiError struct {
	status  int
	code    string // shape name, e.g. ThrottlingException
	ns      string // Smithy namespace of the shape; empty for errors AWS sends unqualified
	message string
	// queryCode is the awsQuery error code CloudWatch also sends, in the
	// X-Amzn-Query-Error header, for clients that speak its older protocol.
	queryCode string
}

// writeError writes e in the protocol the request arrived in, the way AWS
// lays it out: AWS JSON puts a qualified __type and "Message" in the body;
// REST-JSON puts the code in X-Amzn-ErrorType and "message" in the body;
// RPC v2 CBOR puts __type and "message" in a CBOR map, plus the awsQuery
// code for services (CloudWatch) marked awsQueryCompatible.
func writeError(w http.ResponseWriter, p protocol, e apiError) {
	typ := e.code
	if e.ns != "" {
		typ = e.ns + "#" + e.code
	}
	w.Header().Set("X-Amzn-Requestid", "fake-request-id")
	switch p {
	case protoJSON11:
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(e.status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "Message": e.message})
	case protoRESTJSON:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-Errortype", e.code)
		w.WriteHeader(e.status)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": e.message})
	case protoCBOR:
		w.Header().Set("Content-Type", "application/cbor")
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		if e.queryCode != "" {
			fault := "Sender"
			if e.status >= 500 {
				fault = "Receiver"
			}
			w.Header().Set("X-Amzn-Query-Error", e.queryCode+";"+fault)
		}
		w.WriteHeader(e.status)
		_, _ = w.Write(cbor.Encode(cbor.Map{"__type": cbor.String(typ), "message": cbor.String(e.message)}))
	}
}

// throttled is the throttling error each service really answers with:
// Service Quotas models TooManyRequestsException, Bedrock models
// ThrottlingException (HTTP 429), and CloudWatch's front end answers with
// the coral ThrottlingException whose awsQuery code is "Throttling".
func throttled(rt route) apiError {
	const msg = "Rate exceeded"
	switch rt.service {
	case signingServiceQuotas:
		return apiError{status: http.StatusBadRequest, ns: "com.amazonaws.servicequotas", code: "TooManyRequestsException", message: msg}
	case signingCloudWatch:
		return apiError{status: http.StatusBadRequest, ns: "com.amazon.coral.availability", code: "ThrottlingException", queryCode: "Throttling", message: msg}
	default:
		return apiError{status: http.StatusTooManyRequests, code: "ThrottlingException", message: msg}
	}
}

// accessDenied is what an IAM denial looks like from each service.
func accessDenied(rt route) apiError {
	msg := "User: arn:aws:sts::" + AccountID + ":assumed-role/breakwater/manager is not authorized to perform: " + rt.service + ":" + rt.op
	switch rt.service {
	case signingServiceQuotas:
		return apiError{status: http.StatusBadRequest, ns: "com.amazonaws.servicequotas", code: "AccessDeniedException", message: msg}
	case signingCloudWatch:
		return apiError{status: http.StatusForbidden, ns: "com.amazon.coral.service", code: "AccessDeniedException", queryCode: "AccessDenied", message: msg}
	default:
		return apiError{status: http.StatusForbidden, code: "AccessDeniedException", message: msg}
	}
}

// badRequest is a validation failure in the service's own vocabulary.
func badRequest(rt route, msg string) apiError {
	switch rt.service {
	case signingServiceQuotas:
		return apiError{status: http.StatusBadRequest, ns: "com.amazonaws.servicequotas", code: "IllegalArgumentException", message: msg}
	case signingCloudWatch:
		return apiError{status: http.StatusBadRequest, ns: "com.amazonaws.cloudwatch", code: "InvalidParameterValueException", queryCode: "InvalidParameterValue", message: msg}
	default:
		return apiError{status: http.StatusBadRequest, code: "ValidationException", message: msg}
	}
}
