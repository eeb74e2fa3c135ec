package manager

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/breakwater-dev/breakwater/controllers"
	bwaws "github.com/breakwater-dev/breakwater/internal/aws"
	"github.com/breakwater-dev/breakwater/internal/policy"
	"github.com/breakwater-dev/breakwater/internal/promsource"
)

// SourceOptions configure what the control loops read besides the API server (flags of cmd/manager).
type SourceOptions struct {
	PrometheusURL         string
	PrometheusSigV4Region string
	PrometheusTimeout     time.Duration
	EvaluationInterval    time.Duration
	QuotaUsageWindow      time.Duration
	QuotaMinDwell         time.Duration
	ScaleCooldown         time.Duration
	AWSSources            bool
	ServiceQuotasEndpoint string
	CloudWatchEndpoint    string
	BedrockEndpoint       string
}

// BindFlags registers the options as flags with their defaults.
func (o *SourceOptions) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.PrometheusURL, "prometheus-url", "",
		"Prometheus-compatible query API the control loops read the guards' metrics from, without /api/v1 "+
			"(e.g. http://prometheus.monitoring:9090, or an Amazon Managed Service for Prometheus workspace URL). "+
			"Empty: no metrics, and the loops report MetricsUnavailable instead of acting.")
	fs.StringVar(&o.PrometheusSigV4Region, "prometheus-sigv4-region", "",
		"Sign Prometheus queries with SigV4 for this region (Amazon Managed Service for Prometheus), with the pod's AWS identity.")
	fs.DurationVar(&o.PrometheusTimeout, "prometheus-timeout", promsource.DefaultTimeout, "Timeout of one PromQL query.")
	fs.DurationVar(&o.EvaluationInterval, "evaluation-interval", 30*time.Second,
		"How often the control loops evaluate quotas and failover policies.")
	fs.DurationVar(&o.QuotaUsageWindow, "quota-usage-window", 2*time.Minute,
		"Range over which a TokenQuota's tokens-per-minute rate is measured. Shorter reacts sooner and is noisier; keep it at least 4 scrape intervals.")
	fs.DurationVar(&o.QuotaMinDwell, "quota-min-dwell", policy.DefaultMinDwell,
		"Least time a TokenQuota stays in a state before it may move down, so a state does not flap.")
	fs.DurationVar(&o.ScaleCooldown, "scale-cooldown", policy.DefaultScaleCooldown,
		"Least time between two scale actions on one workload, and between a quota turning Normal and the first restore.")
	fs.BoolVar(&o.AWSSources, "aws-sources", true,
		"Read AWS Service Quotas, CloudWatch AWS/Bedrock metrics and the Bedrock model catalogue with the pod's AWS identity.")
	fs.StringVar(&o.ServiceQuotasEndpoint, "aws-servicequotas-endpoint", "", "Override the Service Quotas endpoint (a VPC endpoint); empty uses the region's.")
	fs.StringVar(&o.CloudWatchEndpoint, "aws-cloudwatch-endpoint", "", "Override the CloudWatch endpoint (a VPC endpoint); empty uses the region's.")
	fs.StringVar(&o.BedrockEndpoint, "aws-bedrock-endpoint", "", "Override the Bedrock control-plane endpoint (a VPC endpoint); empty uses the region's.")
}

// Sources builds the control loops' sources from the options. A source that is not configured stays
// nil, and the loops that need it report MetricsUnavailable rather than act on missing data.
func (o SourceOptions) Sources(ctx context.Context) (controllers.Sources, error) {
	src := controllers.Sources{Interval: o.EvaluationInterval, QuotaUsageWindow: o.QuotaUsageWindow,
		QuotaMinDwell: o.QuotaMinDwell, ScaleCooldown: o.ScaleCooldown}
	if o.PrometheusURL != "" {
		cfg := promsource.Config{URL: o.PrometheusURL, Timeout: o.PrometheusTimeout}
		if o.PrometheusSigV4Region != "" {
			sig, err := promsource.LoadSigV4Config(ctx, o.PrometheusSigV4Region)
			if err != nil {
				return src, fmt.Errorf("loading AWS credentials to sign Prometheus queries: %w", err)
			}
			cfg.SigV4 = &sig
		}
		metrics, err := promsource.New(cfg)
		if err != nil {
			return src, err
		}
		src.Metrics = metrics
	}
	if o.AWSSources {
		clients, err := bwaws.LoadClientFactory(ctx, bwaws.Endpoints{
			ServiceQuotas: o.ServiceQuotasEndpoint, CloudWatch: o.CloudWatchEndpoint, Bedrock: o.BedrockEndpoint,
		})
		if err != nil {
			return src, err
		}
		src.Quotas = bwaws.NewServiceQuotas(clients, bwaws.QuotaOptions{})
		src.Usage = bwaws.NewCloudWatchMetrics(clients)
		src.Catalog = bwaws.NewBedrockCatalog(clients, bwaws.CatalogOptions{})
	}
	return src, nil
}
