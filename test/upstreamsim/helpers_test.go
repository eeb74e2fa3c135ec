package upstreamsim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

const (
	testRegion = "us-east-1"
	testAKID   = "AKIDSIMTEST"
	testSecret = "sim-secret"
	testAPIKey = "sk-sim-test"
)

// startSim starts a sim with test credentials filled in where the caller
// left them empty, and closes it with the test.
func startSim(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.Region == "" {
		opts.Region = testRegion
	}
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// signedOpts are Options that verify SigV4 with the test keys.
func signedOpts() Options {
	return Options{Region: testRegion, AccessKeyID: testAKID, SecretAccessKey: testSecret, APIKey: testAPIKey}
}

// bedrockClient is the real SDK client pointed at base. Retries are off so
// every call is exactly one request and fault counts are exact.
func bedrockClient(base, region, akid, secret string) *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{
		Region:           region,
		BaseEndpoint:     aws.String(base),
		Credentials:      credentials.NewStaticCredentialsProvider(akid, secret, ""),
		RetryMaxAttempts: 1,
	})
}

// sageMakerClient is the real SDK client pointed at base, signing as testAKID with secret.
func sageMakerClient(base, secret string) *sagemakerruntime.Client {
	return sagemakerruntime.New(sagemakerruntime.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(base),
		Credentials:      credentials.NewStaticCredentialsProvider(testAKID, secret, ""),
		RetryMaxAttempts: 1,
	})
}

func openAIClient(base, key string) *openai.Client {
	c := openai.NewClient(
		option.WithBaseURL(base+"/v1/"),
		option.WithAPIKey(key),
		option.WithMaxRetries(0),
	)
	return &c
}

// testCtx bounds a test's calls so a sim bug fails the test instead of
// hanging it until the package timeout.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// post sends a raw JSON POST and returns the status, headers and body.
func post(t *testing.T, url, body string, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	return send(t, http.MethodPost, url, body, hdr)
}

func put(t *testing.T, url, body string) (int, http.Header, []byte) {
	t.Helper()
	return send(t, http.MethodPut, url, body, nil)
}

func send(t *testing.T, method, url, body string, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), method, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, resp.Header, b
}

// eventually polls cond until it holds or the test deadline approaches.
// It waits for the server side of a stream to catch up with what the
// client already saw; it never measures time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// notWithin reports whether ch stays silent for a short while. Used only
// to check that something does NOT happen (a stalled stream sends nothing),
// so a slow machine can only make it pass, never fail spuriously.
func notWithin[T any](ch <-chan T) bool {
	select {
	case <-ch:
		return false
	case <-time.After(100 * time.Millisecond):
		return true
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
