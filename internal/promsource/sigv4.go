package promsource

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
)

// ServiceAPS is the SigV4 signing name of Amazon Managed Service for Prometheus.
const ServiceAPS = "aps"

// SigV4Config says how to sign requests to Amazon Managed Service for Prometheus.
type SigV4Config struct {
	// Region of the workspace, e.g. us-east-1.
	Region string
	// Credentials, usually the pod's (EKS Pod Identity or IRSA) through LoadSigV4Config.
	Credentials aws.CredentialsProvider
	// Service is the signing name; default ServiceAPS.
	Service string
}

// LoadSigV4Config takes credentials from the AWS SDK's default chain (environment, web identity,
// Pod Identity, instance role). region overrides the chain's region when not empty.
func LoadSigV4Config(ctx context.Context, region string) (SigV4Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return SigV4Config{}, fmt.Errorf("promsource: AWS config for SigV4: %w", err)
	}
	if cfg.Region == "" {
		return SigV4Config{}, errors.New("promsource: SigV4 needs a region: set it, or AWS_REGION")
	}
	return SigV4Config{Region: cfg.Region, Credentials: cfg.Credentials, Service: ServiceAPS}, nil
}

// sigV4RoundTripper signs each request with SigV4 before handing it to next.
type sigV4RoundTripper struct {
	next        http.RoundTripper
	signer      *v4.Signer
	credentials aws.CredentialsProvider
	region      string
	service     string
}

// NewSigV4RoundTripper returns a RoundTripper that signs every request for cfg's service and region
// and sends it through next.
func NewSigV4RoundTripper(next http.RoundTripper, cfg SigV4Config) (http.RoundTripper, error) {
	if cfg.Region == "" {
		return nil, errors.New("promsource: SigV4 needs a region")
	}
	if cfg.Credentials == nil {
		return nil, errors.New("promsource: SigV4 needs credentials")
	}
	if cfg.Service == "" {
		cfg.Service = ServiceAPS
	}
	creds := cfg.Credentials
	// Retrieving credentials may mean a call to STS or the Pod Identity agent; cache them so that
	// it happens once per expiry, not once per query.
	if _, cached := creds.(*aws.CredentialsCache); !cached {
		creds = aws.NewCredentialsCache(creds)
	}
	return &sigV4RoundTripper{next: next, signer: v4.NewSigner(), credentials: creds, region: cfg.Region, service: cfg.Service}, nil
}

// RoundTrip signs a copy of req: a RoundTripper must not change the request it was given. The body
// is read whole because SigV4 signs its hash; query API bodies are small form posts.
func (rt *sigV4RoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("promsource: reading the request body to sign it: %w", err)
		}
	}
	creds, err := rt.credentials.Retrieve(req.Context())
	if err != nil {
		return nil, fmt.Errorf("promsource: AWS credentials for SigV4: %w", err)
	}
	signed := req.Clone(req.Context())
	if len(body) > 0 {
		signed.Body = io.NopCloser(bytes.NewReader(body))
		signed.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		signed.ContentLength = int64(len(body))
	} else if req.Body != nil {
		// http.NoBody, not an empty reader: the transport would send an empty reader chunked.
		signed.Body = http.NoBody
		signed.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
		signed.ContentLength = 0
	}
	sum := sha256.Sum256(body)
	if err := rt.signer.SignHTTP(req.Context(), creds, signed, hex.EncodeToString(sum[:]), rt.service, rt.region, time.Now()); err != nil {
		return nil, fmt.Errorf("promsource: SigV4 signing: %w", err)
	}
	return rt.next.RoundTrip(signed)
}
