package upstreamsim

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
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

	errUnrecognizedClient = "UnrecognizedClientException"
	errInvalidSignature   = "InvalidSignatureException"
)

// authorize checks the caller's credentials for the route's protocol and
// answers the refusal itself; it reports whether the request may go on.
func (s *Server) authorize(c *call) bool {
	switch c.route.proto {
	case protoOpenAI:
		if s.opts.APIKey == "" {
			return true
		}
		want := "Bearer " + s.opts.APIKey
		got := c.r.Header.Get("Authorization")
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
			return true
		}
		s.update(func(st *Stats) { st.AuthFailures++ })
		writeOpenAIError(c.w, http.StatusUnauthorized, "Incorrect API key provided.")
		return false
	case protoBedrock, protoSageMaker:
		service := "bedrock"
		if c.route.proto == protoSageMaker {
			service = "sagemaker"
		}
		errType, err := s.verifySigV4(c.r, c.body, service)
		if err == nil {
			return true
		}
		s.update(func(st *Stats) { st.SignatureFailures++ })
		s.writeAWSError(c.w, http.StatusForbidden, errType, err.Error())
		return false
	}
	return true
}

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

// verifySigV4 checks a request's SigV4 signature for this server's region
// and the given service. The credential scope is always checked, so a
// request signed for the wrong region or service fails even without keys;
// the signature itself is recomputed with the SDK's own signer when
// Options.AccessKeyID is set. It returns the AWS error code to answer with.
func (s *Server) verifySigV4(r *http.Request, body []byte, service string) (string, error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return errUnrecognizedClient, errors.New("Missing Authentication Token")
	}
	auth, err := parseSigV4Auth(header)
	if err != nil {
		return errInvalidSignature, err
	}
	if auth.service != service {
		return errInvalidSignature, errors.New("Credential should be scoped to correct service: '" + service + "'.")
	}
	if auth.region != s.opts.Region {
		return errInvalidSignature, errors.New("Credential should be scoped to a valid region, not '" + auth.region + "'.")
	}
	signingTime, err := time.Parse(amzDateFormat, r.Header.Get("X-Amz-Date"))
	if err != nil {
		return errInvalidSignature, errors.New("X-Amz-Date is missing or malformed")
	}
	if signingTime.Format("20060102") != auth.date {
		return errInvalidSignature, errors.New("Date in Credential scope does not match YYYYMMDD from X-Amz-Date")
	}
	if skew := time.Since(signingTime); skew > maxClockSkew || skew < -maxClockSkew {
		return errInvalidSignature, errors.New("Signature expired: request time is too far from the server time")
	}
	if s.opts.AccessKeyID == "" {
		return "", nil
	}
	if subtle.ConstantTimeCompare([]byte(auth.accessKeyID), []byte(s.opts.AccessKeyID)) != 1 {
		return errUnrecognizedClient, errors.New("The security token included in the request is invalid.")
	}

	sum := sha256.Sum256(body)
	bodyHash := hex.EncodeToString(sum[:])
	payloadHash := bodyHash
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" {
		if h != "UNSIGNED-PAYLOAD" && h != bodyHash {
			return errInvalidSignature, errors.New("The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
		payloadHash = h
	}

	// Rebuild the request as the client signed it: same method, path,
	// query, host and exactly the headers it listed as signed.
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	req, err := http.NewRequestWithContext(context.Background(), r.Method, u.String(), nil)
	if err != nil {
		return errInvalidSignature, errors.New("cannot rebuild request for verification")
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
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash, service, s.opts.Region, signingTime); err != nil {
		return errInvalidSignature, errors.New("cannot compute signature")
	}
	want, err := parseSigV4Auth(req.Header.Get("Authorization"))
	if err != nil {
		return errInvalidSignature, errors.New("cannot compute signature")
	}
	if want.signedHeaders != auth.signedHeaders ||
		subtle.ConstantTimeCompare([]byte(want.signature), []byte(auth.signature)) != 1 {
		return errInvalidSignature, errors.New("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	return "", nil
}
