package promsource

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

func staticCredentials(id, secret string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, Source: "test"}, nil
	})
}

// signatureChecker is a Prometheus query API that, like Amazon Managed Service for Prometheus,
// answers only requests signed by credentials it knows: it signs its own copy of each request with
// the caller's date and compares the Authorization headers.
type signatureChecker struct {
	region, secret string

	mu    sync.Mutex
	auths []string // Authorization headers of the requests it accepted
}

func (c *signatureChecker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !c.valid(r, auth, body) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"message":"The request signature we calculated does not match the signature you provided."}`)
		return
	}
	c.mu.Lock()
	c.auths = append(c.auths, auth)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[`+
		`{"metric":{"namespace":"team-a","endpoint":"claude","target":"us-east-1"},"value":[1700000000,"4.5"]}]}}`)
}

func (c *signatureChecker) valid(r *http.Request, auth string, body []byte) bool {
	const prefix = "AWS4-HMAC-SHA256 Credential="
	if !strings.HasPrefix(auth, prefix) {
		return false
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(auth, prefix), "/")
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return false
	}
	_, signedHeaders, _ := strings.Cut(auth, "SignedHeaders=")
	signedHeaders, _, _ = strings.Cut(signedHeaders, ",")

	own, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return false
	}
	for _, h := range strings.Split(signedHeaders, ";") {
		if h != "host" {
			own.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: id, SecretAccessKey: c.secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, own, hex.EncodeToString(sum[:]), ServiceAPS, c.region, signedAt); err != nil {
		return false
	}
	return own.Header.Get("Authorization") == auth
}

func TestSigV4SignsQueries(t *testing.T) {
	t.Parallel()
	checker := &signatureChecker{region: "eu-west-1", secret: "secret-of-the-workspace"}
	srv := httptest.NewServer(checker)
	t.Cleanup(srv.Close)

	src, err := New(Config{
		URL:   srv.URL + "/workspaces/ws-1234",
		SigV4: &SigV4Config{Region: "eu-west-1", Credentials: staticCredentials("AKIDEXAMPLE", "secret-of-the-workspace")},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := src.RequestRate(context.Background(), Scope{Namespace: "team-a", Endpoints: []string{"claude"}, Window: window})
	if err != nil {
		t.Fatalf("signed query refused: %v", err)
	}
	if v, ok := got.Get(Key{"team-a", "claude", "us-east-1"}); !ok || v != 4.5 {
		t.Errorf("value = %v, %v; want 4.5, true", v, ok)
	}

	checker.mu.Lock()
	defer checker.mu.Unlock()
	if len(checker.auths) != 1 {
		t.Fatalf("accepted %d requests, want 1", len(checker.auths))
	}
	// The scope is what Amazon Managed Service for Prometheus checks: key, day, region, service.
	scope := "Credential=AKIDEXAMPLE/" + time.Now().UTC().Format("20060102") + "/eu-west-1/aps/aws4_request"
	if !strings.Contains(checker.auths[0], scope) {
		// The day may have turned between signing and this check; the key, region and service
		// must be there in any case.
		if !strings.Contains(checker.auths[0], "/eu-west-1/aps/aws4_request") || !strings.Contains(checker.auths[0], "AKIDEXAMPLE/") {
			t.Errorf("Authorization %q lacks credential scope %q", checker.auths[0], scope)
		}
	}
}

func TestSigV4WrongSecretIsRefused(t *testing.T) {
	t.Parallel()
	// The checker must be able to say no, or the test above proves nothing.
	checker := &signatureChecker{region: "eu-west-1", secret: "secret-of-the-workspace"}
	srv := httptest.NewServer(checker)
	t.Cleanup(srv.Close)
	src, err := New(Config{
		URL:   srv.URL,
		SigV4: &SigV4Config{Region: "eu-west-1", Credentials: staticCredentials("AKIDEXAMPLE", "a-different-secret")},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.RequestRate(context.Background(), Scope{Window: window})
	if err == nil || !strings.Contains(err.Error(), QueryRequestRate) {
		t.Errorf("error = %v; want a refusal naming %s", err, QueryRequestRate)
	}
}

func TestSigV4NeedsRegionAndCredentials(t *testing.T) {
	t.Parallel()
	if _, err := NewSigV4RoundTripper(http.DefaultTransport, SigV4Config{Credentials: staticCredentials("a", "b")}); err == nil {
		t.Error("accepted a config without a region")
	}
	if _, err := NewSigV4RoundTripper(http.DefaultTransport, SigV4Config{Region: "us-east-1"}); err == nil {
		t.Error("accepted a config without credentials")
	}
}

func TestSigV4GetHasNoBody(t *testing.T) {
	t.Parallel()
	// Prometheus clients fall back to GET; a signed GET must stay a GET without a body.
	checker := &signatureChecker{region: "us-west-2", secret: "s"}
	var sawBody atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawBody.Store(r.ContentLength != 0 || len(r.TransferEncoding) > 0)
		checker.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rt, err := NewSigV4RoundTripper(http.DefaultTransport, SigV4Config{Region: "us-west-2", Credentials: staticCredentials("AKID", "s")})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/query?query=up", http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d, want 200", resp.StatusCode)
	}
	if sawBody.Load() {
		t.Error("the signed GET carried a body")
	}
	if req.Header.Get("Authorization") != "" {
		t.Error("the caller's request was changed; a RoundTripper must sign a copy")
	}
}
