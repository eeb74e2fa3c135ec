// Package sigv4check verifies AWS Signature Version 4 on the requests the project's local fakes of
// AWS services receive, the way AWS does: the credential scope (service, region, date) always, and,
// when the fake knows the key, the signature itself, recomputed with aws-sdk-go-v2's own signer over
// exactly the headers the client signed. The upstream simulator and the metric-source fakes share it.
package sigv4check

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	algorithm     = "AWS4-HMAC-SHA256"
	amzDateFormat = "20060102T150405Z"
	// maxClockSkew is how far X-Amz-Date may be from now; AWS allows 15 minutes before answering
	// "Signature expired".
	maxClockSkew = 15 * time.Minute
)

// AWS error codes of refused requests.
const (
	CodeInvalidSignature  = "InvalidSignatureException"
	CodeUnrecognizedKey   = "UnrecognizedClientException"
	CodeMissingAuthHeader = "MissingAuthenticationTokenException"
)

// Expect is what a fake accepts.
type Expect struct {
	// Service is the signing name the credential scope must carry (bedrock, sagemaker, monitoring).
	Service string
	// Regions are the regions the fake plays.
	Regions []string
	// AccessKeyID and SecretAccessKey are the one key accepted; without an AccessKeyID only the
	// credential scope is checked.
	AccessKeyID, SecretAccessKey string
	// MissingCode is the error code for a request without an Authorization header; services
	// differ. Default: MissingAuthenticationTokenException.
	MissingCode string
}

// Failure is a refused request: the AWS error code to answer (with 403) and its message.
type Failure struct{ Code, Message string }

func (f *Failure) Error() string { return f.Message }

func fail(code, msg string) (string, error) { return "", &Failure{Code: code, Message: msg} }

// Verify returns the region of the request's credential scope, or a *Failure.
func Verify(r *http.Request, body []byte, e Expect) (string, error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		code := e.MissingCode
		if code == "" {
			code = CodeMissingAuthHeader
		}
		return fail(code, "Missing Authentication Token")
	}
	auth, err := parseAuth(header)
	if err != nil {
		return fail(CodeInvalidSignature, err.Error())
	}
	if auth.service != e.Service {
		return fail(CodeInvalidSignature, "Credential should be scoped to correct service: '"+e.Service+"'.")
	}
	if !slices.Contains(e.Regions, auth.region) {
		return fail(CodeInvalidSignature, "Credential should be scoped to a valid region, not '"+auth.region+"'.")
	}
	signingTime, err := time.Parse(amzDateFormat, r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fail(CodeInvalidSignature, "X-Amz-Date is missing or malformed")
	}
	if signingTime.Format("20060102") != auth.date {
		return fail(CodeInvalidSignature, "Date in Credential scope does not match YYYYMMDD from X-Amz-Date")
	}
	if skew := time.Since(signingTime); skew > maxClockSkew || skew < -maxClockSkew {
		return fail(CodeInvalidSignature, "Signature expired: request time is too far from the server time")
	}
	if e.AccessKeyID == "" {
		return auth.region, nil
	}
	if subtle.ConstantTimeCompare([]byte(auth.accessKeyID), []byte(e.AccessKeyID)) != 1 {
		return fail(CodeUnrecognizedKey, "The security token included in the request is invalid.")
	}

	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" {
		if h != "UNSIGNED-PAYLOAD" && h != payloadHash {
			return fail(CodeInvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
		payloadHash = h
	}

	// Rebuild the request as the client signed it: same method, path, query, host and exactly the
	// headers it listed as signed.
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	req, err := http.NewRequestWithContext(context.Background(), r.Method, u.String(), http.NoBody)
	if err != nil {
		return fail(CodeInvalidSignature, "cannot rebuild request for verification")
	}
	req.URL = u
	req.Host = r.Host
	for _, name := range strings.Split(auth.signedHeaders, ";") {
		switch name {
		case "host":
		case "content-length":
			req.ContentLength = r.ContentLength
		default:
			if vs := r.Header.Values(name); len(vs) > 0 {
				req.Header[http.CanonicalHeaderKey(name)] = append([]string(nil), vs...)
			}
		}
	}
	creds := aws.Credentials{AccessKeyID: e.AccessKeyID, SecretAccessKey: e.SecretAccessKey, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash, e.Service, auth.region, signingTime); err != nil {
		return fail(CodeInvalidSignature, "cannot compute signature")
	}
	want, err := parseAuth(req.Header.Get("Authorization"))
	if err != nil {
		return fail(CodeInvalidSignature, "cannot compute signature")
	}
	if want.signedHeaders != auth.signedHeaders || subtle.ConstantTimeCompare([]byte(want.signature), []byte(auth.signature)) != 1 {
		return fail(CodeInvalidSignature, "The request signature we calculated does not match the signature you provided. "+
			"Check your AWS Secret Access Key and signing method.")
	}
	return auth.region, nil
}

// auth is a parsed SigV4 Authorization header.
type auth struct {
	accessKeyID, date, region, service string
	signedHeaders, signature           string
}

// parseAuth splits "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
// SignedHeaders=a;b, Signature=hex".
func parseAuth(h string) (auth, error) {
	var a auth
	rest, ok := strings.CutPrefix(h, algorithm+" ")
	if !ok {
		return a, errors.New("the Authorization header is not " + algorithm)
	}
	for _, field := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return a, errors.New("malformed Authorization header field")
		}
		switch k {
		case "Credential":
			parts := strings.Split(v, "/")
			if len(parts) != 5 || parts[4] != "aws4_request" {
				return a, errors.New("malformed credential scope")
			}
			a.accessKeyID, a.date, a.region, a.service = parts[0], parts[1], parts[2], parts[3]
		case "SignedHeaders":
			a.signedHeaders = v
		case "Signature":
			a.signature = v
		}
	}
	if a.accessKeyID == "" || a.signedHeaders == "" || a.signature == "" {
		return a, errors.New("the Authorization header lacks Credential, SignedHeaders or Signature")
	}
	return a, nil
}
