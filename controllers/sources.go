package controllers

import (
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/breakwater-dev/breakwater/internal/aws"
	"github.com/breakwater-dev/breakwater/internal/managermetrics"
	"github.com/breakwater-dev/breakwater/internal/promsource"
)

// Sources are what the control loops read besides the API server. A nil member makes the loops
// that need it report MetricsUnavailable (and hold their last decision) instead of acting on
// missing data.
type Sources struct {
	// Metrics are the guards' metrics, through PromQL.
	Metrics promsource.Source
	// Quotas reads tokens-per-minute limits from AWS Service Quotas.
	Quotas aws.QuotaReader
	// Usage reads account-wide Bedrock usage from CloudWatch.
	Usage aws.BedrockMetrics
	// Catalog says whether a region serves a Bedrock model.
	Catalog aws.ModelCatalog
	// Interval is how often the loops evaluate; zero means the default of 30s.
	Interval time.Duration
	// QuotaUsageWindow is the range a TokenQuota's tokens-per-minute rate is taken over; zero means
	// the default of 2m. Shorter reacts sooner and is noisier.
	QuotaUsageWindow time.Duration
	// QuotaMinDwell is the least time a TokenQuota stays in a state before it may move down; zero
	// means policy.DefaultMinDwell.
	QuotaMinDwell time.Duration
	// ScaleCooldown is the least time between two scale actions on one workload, and between the
	// quota turning Normal and the first restore; zero means policy.DefaultScaleCooldown.
	ScaleCooldown time.Duration
	// Now is the clock the loops hand to internal/policy; nil means time.Now.
	Now func() time.Time
	// Admission is the store the guards share TokenQuota budgets in; zero: none.
	Admission AdmissionStoreOptions
	// ManagerMetrics records what the loops decide and do, and the sources' failures; nil records
	// nothing. The manager passes managermetrics.Default().
	ManagerMetrics *managermetrics.Metrics
}

func (s Sources) interval() time.Duration {
	if s.Interval <= 0 {
		return 30 * time.Second
	}
	return s.Interval
}

func (s Sources) quotaUsageWindow() time.Duration {
	if s.QuotaUsageWindow <= 0 {
		return defaultQuotaUsageWindow
	}
	return s.QuotaUsageWindow
}

func (s Sources) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// requeueJitter spreads the evaluations of many objects created together over 10% of the
// interval, so they do not all query Prometheus in the same instant.
const requeueJitter = 0.1

// requeueAfter is when the next evaluation of a control loop is due.
func (s Sources) requeueAfter() time.Duration {
	return wait.Jitter(s.interval(), requeueJitter)
}
