package aws

import (
	"context"
	"errors"
	"fmt"
	"sync"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
)

// Endpoints overrides the endpoint of each service. Empty fields keep the
// SDK's regional endpoint; set them for VPC interface endpoints or tests.
// One value applies to every region, so a per-region VPC endpoint needs a
// factory per region.
type Endpoints struct {
	ServiceQuotas string
	CloudWatch    string
	Bedrock       string
}

// Clients are the SDK clients for one region.
type Clients struct {
	Region        string
	ServiceQuotas *servicequotas.Client
	CloudWatch    *cloudwatch.Client
	Bedrock       *bedrock.Client
}

// ClientFactory builds, and keeps, one set of clients per region from one
// base configuration, so all regions share the credential chain (and its
// cached credentials) while each client signs for its own region.
type ClientFactory struct {
	cfg       awssdk.Config
	endpoints Endpoints

	mu       sync.Mutex
	byRegion map[string]*Clients
}

// NewClientFactory uses cfg as is, apart from its region.
func NewClientFactory(cfg awssdk.Config, endpoints Endpoints) *ClientFactory {
	return &ClientFactory{cfg: cfg, endpoints: endpoints, byRegion: map[string]*Clients{}}
}

// LoadClientFactory loads the default configuration (environment, shared
// files, pod identity / IRSA) the way every AWS tool does.
func LoadClientFactory(ctx context.Context, endpoints Endpoints, optFns ...func(*config.LoadOptions) error) (*ClientFactory, error) {
	cfg, err := config.LoadDefaultConfig(ctx, optFns...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return NewClientFactory(cfg, endpoints), nil
}

// For returns the clients for region, building them on first use.
func (f *ClientFactory) For(region string) (*Clients, error) {
	if region == "" {
		return nil, errors.New("AWS region is required")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.byRegion[region]; ok {
		return c, nil
	}
	cfg := f.cfg.Copy()
	cfg.Region = region
	c := &Clients{
		Region: region,
		ServiceQuotas: servicequotas.NewFromConfig(cfg, func(o *servicequotas.Options) {
			setEndpoint(&o.BaseEndpoint, f.endpoints.ServiceQuotas)
		}),
		CloudWatch: cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) {
			setEndpoint(&o.BaseEndpoint, f.endpoints.CloudWatch)
		}),
		Bedrock: bedrock.NewFromConfig(cfg, func(o *bedrock.Options) {
			setEndpoint(&o.BaseEndpoint, f.endpoints.Bedrock)
		}),
	}
	f.byRegion[region] = c
	return c, nil
}

// setEndpoint overrides an SDK client's BaseEndpoint only when an override
// is given, so one set in the shared configuration (AWS_ENDPOINT_URL_*)
// still applies otherwise.
func setEndpoint(dst **string, endpoint string) {
	if endpoint != "" {
		*dst = &endpoint
	}
}
