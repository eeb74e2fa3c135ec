package aws

import (
	"errors"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// Kinds of failure a caller acts on differently; test with errors.Is.
var (
	// ErrThrottled: AWS rate-limited the call. Retry later; meanwhile use
	// the last good value.
	ErrThrottled = errors.New("throttled by AWS")
	// ErrAccessDenied: the credentials were refused or lack a permission.
	// Retrying will not help; the IAM policy or credentials must change.
	ErrAccessDenied = errors.New("access denied by AWS")
	// ErrNotFound: AWS has no such quota (or model) in the region.
	ErrNotFound = errors.New("not found in AWS")
)

// Error is a failed AWS call. It names what a reader of a condition or log
// line needs to find the problem: the operation, the region and the quota
// or models concerned.
type Error struct {
	Op      string // service and operation, e.g. "servicequotas:GetServiceQuota"
	Region  string
	Subject string // e.g. "quota bedrock/L-1234" or "models [a b]"
	Code    string // the AWS error code, when AWS answered with one
	Kind    error  // ErrThrottled, ErrAccessDenied, ErrNotFound, or nil
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(" in ")
	b.WriteString(e.Region)
	if e.Subject != "" {
		b.WriteString(" for ")
		b.WriteString(e.Subject)
	}
	b.WriteString(": ")
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap exposes both the kind and the SDK error, so errors.Is(err,
// ErrThrottled) and errors.As(err, &someSDKType) both work.
func (e *Error) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}

// Retryable reports whether the same call may succeed later unchanged:
// throttling, AWS-side faults and transport errors are; refusals are not.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case ErrThrottled:
		return true
	case ErrAccessDenied, ErrNotFound:
		return false
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(e.Err) == awssdk.TrueTernary
}

// IsRetryable reports whether err is an *Error that may succeed on retry.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable()
}

// accessDeniedCodes are the codes AWS uses for an IAM denial or refused
// credentials; both need a person, not a retry.
var accessDeniedCodes = map[string]bool{
	"AccessDeniedException":               true,
	"AccessDenied":                        true,
	"UnauthorizedOperation":               true,
	"UnrecognizedClientException":         true,
	"InvalidSignatureException":           true,
	"MissingAuthenticationTokenException": true,
	"ExpiredTokenException":               true,
	"InvalidClientTokenId":                true,
}

// newError wraps an SDK error with its context and classifies it. The
// SDK's own throttle list decides throttling, so this agrees with the
// SDK's retryer on what a throttle is.
func newError(op, region, subject string, err error) *Error {
	e := &Error{Op: op, Region: region, Subject: subject, Err: err}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		e.Code = apiErr.ErrorCode()
	}
	switch {
	case retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == awssdk.TrueTernary:
		e.Kind = ErrThrottled
	case accessDeniedCodes[e.Code]:
		e.Kind = ErrAccessDenied
	}
	return e
}
