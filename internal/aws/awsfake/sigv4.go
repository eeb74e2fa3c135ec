package awsfake

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
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	amzDateFormat  = "20060102T150405Z"
	// maxClockSkew is how far X-Amz-Date may be from now; AWS allows 15
	// minutes before answering "Signature expired".
	maxClockSkew = 15 * time.Minute
)

// sigV4Auth is a parsed SigV4 Authorization header.
type sigV4Auth struct {
	accessKeyID   string
	date          string // yyyymmdd of the credential scope
	region        string
	service       string
	signedHeaders string
	signature     string
}

// parseSigV4Auth splits "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex".
func parseSigV4Auth(h string) (sigV4Auth, error) {
	var a sigV4Auth
	rest, ok := strings.CutPrefix(h, sigV4Algorithm+" ")
	if !ok {
		return a, errors.New("Authorization header is not " + sigV4Algorithm)
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
		return a, errors.New("Authorization header lacks Credential, SignedHeaders or Signature")
	}
	return a, nil
}

// verifySigV4 checks a request the way AWS does: the credential scope must
// name the service the route belongs to and a region the fake serves, the
// date must match and be recent, and the signature, recomputed with the
// SDK's own signer from the configured secret over exactly the headers the
// client signed, must match. It returns the scope's region, which selects
// the data that answers, or the error to reply with.
func (s *Server) verifySigV4(r *http.Request, body []byte, service string) (string, *apiError) {
	deny := func(code, msg string) (string, *apiError) {
		return "", &apiError{status: http.StatusForbidden, code: code, message: msg}
	}
	header := r.Header.Get("Authorization")
	if header == "" {
		return deny("MissingAuthenticationTokenException", "Missing Authentication Token")
	}
	auth, err := parseSigV4Auth(header)
	if err != nil {
		return deny("InvalidSignatureException", err.Error())
	}
	if auth.service != service {
		return deny("InvalidSignatureException", "Credential should be scoped to correct service: '"+service+"'.")
	}
	if !slices.Contains(s.opts.Regions, auth.region) {
		return deny("InvalidSignatureException", "Credential should be scoped to a valid region, not '"+auth.region+"'.")
	}
	signingTime, err := time.Parse(amzDateFormat, r.Header.Get("X-Amz-Date"))
	if err != nil {
		return deny("InvalidSignatureException", "X-Amz-Date is missing or malformed")
	}
	if signingTime.Format("20060102") != auth.date {
		return deny("InvalidSignatureException", "Date in Credential scope does not match YYYYMMDD from X-Amz-Date")
	}
	if skew := time.Since(signingTime); skew > maxClockSkew || skew < -maxClockSkew {
		return deny("InvalidSignatureException", "Signature expired: request time is too far from the server time")
	}
	if subtle.ConstantTimeCompare([]byte(auth.accessKeyID), []byte(s.opts.AccessKeyID)) != 1 {
		return deny("UnrecognizedClientException", "The security token included in the request is invalid.")
	}

	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return deny("InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}

	// Rebuild the request as the client signed it: same method, path,
	// query, host and exactly the headers it listed as signed.
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	req, err := http.NewRequestWithContext(context.Background(), r.Method, u.String(), nil)
	if err != nil {
		return deny("InvalidSignatureException", "cannot rebuild request for verification")
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
	creds := aws.Credentials{
		AccessKeyID:     s.opts.AccessKeyID,
		SecretAccessKey: s.opts.SecretAccessKey,
		SessionToken:    r.Header.Get("X-Amz-Security-Token"),
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash, service, auth.region, signingTime); err != nil {
		return deny("InvalidSignatureException", "cannot compute signature")
	}
	want, err := parseSigV4Auth(req.Header.Get("Authorization"))
	if err != nil {
		return deny("InvalidSignatureException", "cannot compute signature")
	}
	if want.signedHeaders != auth.signedHeaders ||
		subtle.ConstantTimeCompare([]byte(want.signature), []byte(auth.signature)) != 1 {
		return deny("InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	return auth.region, nil
}
