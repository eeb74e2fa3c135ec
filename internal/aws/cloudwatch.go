package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// AWS/Bedrock metric names, as CloudWatch spells them.
const (
	MetricInvocationThrottles = "InvocationThrottles"
	MetricInputTokenCount     = "InputTokenCount"
	MetricOutputTokenCount    = "OutputTokenCount"
	MetricInvocations         = "Invocations"
	MetricInvocationLatency   = "InvocationLatency"
)

// BedrockMetrics reads account-wide Bedrock usage per model (or inference
// profile id) in a region over the window ending at now.
type BedrockMetrics interface {
	Usage(ctx context.Context, region string, modelIDs []string, window time.Duration, now time.Time) (map[string]ModelUsage, error)
}

// ModelUsage is one model's usage over a window. A nil value means
// CloudWatch had no datapoint for that metric in the window; it is never
// reported as zero, because "no data" (a metric delay, a model never
// called, a missing permission) must not read as "no load".
type ModelUsage struct {
	Region  string
	ModelID string
	// Start and End bound the window actually queried: [Start, End), whole minutes.
	Start, End time.Time

	// Sums over the window.
	InvocationThrottles *float64
	InputTokenCount     *float64
	OutputTokenCount    *float64
	Invocations         *float64
	// InvocationLatencyP99 is the highest per-minute p99 (CloudWatch's
	// extended statistic "p99") in the window. Percentiles of different
	// minutes cannot be merged exactly; the highest minute is a safe upper
	// bound for a trigger, and a spike is not averaged away.
	InvocationLatencyP99 *time.Duration

	// Missing lists the metrics with no datapoints in the window.
	Missing []string
	// Partial lists the metrics CloudWatch did not answer completely (a
	// final StatusCode other than Complete, e.g. InternalError or
	// Forbidden); their values, if any, cover only part of the window.
	Partial []string
}

// bedrockNamespace is where Bedrock publishes runtime metrics.
const bedrockNamespace = "AWS/Bedrock"

// metricPeriod is CloudWatch's finest standard resolution, and the
// resolution at which Bedrock publishes.
const metricPeriod = time.Minute

// maxQueriesPerCall is CloudWatch's limit of MetricDataQueries per call.
const maxQueriesPerCall = 500

// metricSpec is one metric read per model and the statistic read for it.
type metricSpec struct {
	name string
	stat string
}

var bedrockMetricSpecs = []metricSpec{
	{MetricInvocationThrottles, "Sum"},
	{MetricInputTokenCount, "Sum"},
	{MetricOutputTokenCount, "Sum"},
	{MetricInvocations, "Sum"},
	{MetricInvocationLatency, "p99"},
}

// cloudWatchAPI is the part of the CloudWatch client used here.
type cloudWatchAPI interface {
	cloudwatch.GetMetricDataAPIClient
}

// CloudWatchMetrics is BedrockMetrics backed by CloudWatch GetMetricData.
// It does not cache: each call is one evaluation's fresh reading.
type CloudWatchMetrics struct {
	clients *ClientFactory
}

var _ BedrockMetrics = (*CloudWatchMetrics)(nil)

// NewCloudWatchMetrics reads metrics through clients.
func NewCloudWatchMetrics(clients *ClientFactory) *CloudWatchMetrics {
	return &CloudWatchMetrics{clients: clients}
}

// Usage reads every metric for every model in as few GetMetricData calls
// as CloudWatch allows, following NextToken. The window is rounded up to
// whole minutes and ends at the last minute boundary at or before now.
// Every requested model is in the result, with what it has and lacks.
func (m *CloudWatchMetrics) Usage(ctx context.Context, region string, modelIDs []string, window time.Duration, now time.Time) (map[string]ModelUsage, error) {
	subject := modelsSubject(modelIDs)
	if len(modelIDs) == 0 || window < metricPeriod {
		return nil, &Error{Op: "cloudwatch:GetMetricData", Region: region, Subject: subject,
			Err: fmt.Errorf("need at least one model and a window of at least %s, got %d models and %s", metricPeriod, len(modelIDs), window)}
	}
	c, err := m.clients.For(region)
	if err != nil {
		return nil, &Error{Op: "cloudwatch:GetMetricData", Region: region, Subject: subject, Err: err}
	}
	return usage(ctx, c.CloudWatch, region, modelIDs, window, now)
}

// series is what the pages said about one query.
type series struct {
	values []float64
	status cwtypes.StatusCode
}

func usage(ctx context.Context, api cloudWatchAPI, region string, modelIDs []string, window time.Duration, now time.Time) (map[string]ModelUsage, error) {
	// The minute now is in is still being written; it would read low.
	end := now.Truncate(metricPeriod)
	start := end.Add(-((window + metricPeriod - 1) / metricPeriod * metricPeriod))
	models := uniq(modelIDs)

	var queries []cwtypes.MetricDataQuery
	asked := map[string]bool{}
	for i, model := range models {
		for j, spec := range bedrockMetricSpecs {
			id := queryID(i, j)
			asked[id] = true
			queries = append(queries, cwtypes.MetricDataQuery{
				Id: awssdk.String(id),
				MetricStat: &cwtypes.MetricStat{
					Metric: &cwtypes.Metric{
						Namespace:  awssdk.String(bedrockNamespace),
						MetricName: awssdk.String(spec.name),
						Dimensions: []cwtypes.Dimension{{Name: awssdk.String("ModelId"), Value: awssdk.String(model)}},
					},
					Period: awssdk.Int32(int32(metricPeriod / time.Second)),
					Stat:   awssdk.String(spec.stat),
				},
				ReturnData: awssdk.Bool(true),
			})
		}
	}

	got := map[string]*series{}
	for batch := range slices.Chunk(queries, maxQueriesPerCall) {
		p := cloudwatch.NewGetMetricDataPaginator(api, &cloudwatch.GetMetricDataInput{
			StartTime:         awssdk.Time(start),
			EndTime:           awssdk.Time(end),
			MetricDataQueries: batch,
			ScanBy:            cwtypes.ScanByTimestampAscending,
		}, func(o *cloudwatch.GetMetricDataPaginatorOptions) {
			o.StopOnDuplicateToken = true // a repeated token would otherwise loop until the deadline
		})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return nil, newError("cloudwatch:GetMetricData", region, modelsSubject(models), err)
			}
			for _, r := range out.MetricDataResults {
				id := awssdk.ToString(r.Id)
				if !asked[id] {
					return nil, &Error{Op: "cloudwatch:GetMetricData", Region: region, Subject: modelsSubject(models),
						Err: errors.New("reply has a result for unknown query id " + id)}
				}
				s := got[id]
				if s == nil {
					s = &series{}
					got[id] = s
				}
				s.values = append(s.values, r.Values...)
				s.status = r.StatusCode // the last page's status is the final word
			}
		}
	}

	result := make(map[string]ModelUsage, len(models))
	for i, model := range models {
		u := ModelUsage{Region: region, ModelID: model, Start: start, End: end}
		for j, spec := range bedrockMetricSpecs {
			s := got[queryID(i, j)]
			if s != nil && s.status != cwtypes.StatusCodeComplete {
				u.Partial = append(u.Partial, spec.name)
			}
			if s == nil || len(s.values) == 0 {
				u.Missing = append(u.Missing, spec.name)
				continue
			}
			switch spec.name {
			case MetricInvocationLatency:
				ms := slices.Max(s.values)
				d := time.Duration(ms * float64(time.Millisecond))
				u.InvocationLatencyP99 = &d
			case MetricInvocationThrottles:
				u.InvocationThrottles = sum(s.values)
			case MetricInputTokenCount:
				u.InputTokenCount = sum(s.values)
			case MetricOutputTokenCount:
				u.OutputTokenCount = sum(s.values)
			case MetricInvocations:
				u.Invocations = sum(s.values)
			}
		}
		result[model] = u
	}
	return result, nil
}

func sum(vs []float64) *float64 {
	var t float64
	for _, v := range vs {
		t += v
	}
	return &t
}

// queryID names the query for model i, metric j; CloudWatch ids must
// start with a lowercase letter and must not carry the model id (dots,
// colons), hence indexes.
func queryID(i, j int) string { return fmt.Sprintf("m%d_%d", i, j) }

// modelsSubject names the models in an error, at most five of them, so a
// message about a hundred models stays readable.
func modelsSubject(ids []string) string {
	const shown = 5
	if len(ids) <= shown {
		return fmt.Sprintf("models %v", ids)
	}
	return fmt.Sprintf("models %v and %d more", ids[:shown], len(ids)-shown)
}

// uniq drops duplicate ids, keeping the first occurrence's order.
func uniq(ids []string) []string {
	out := make([]string, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
