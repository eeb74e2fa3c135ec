package controllers

import (
	"context"

	"github.com/breakwater-dev/breakwater/internal/promsource"
)

// NoMetrics (exported for the controllers_test package) is a promsource.Source with no data for any query. The tests' fakes embed it and
// answer only the queries their loop reads.
type NoMetrics struct{}

var _ promsource.Source = NoMetrics{}

type keyResult = promsource.Result[promsource.Key]

func (NoMetrics) RequestRate(context.Context, promsource.Scope) (keyResult, error) {
	return keyResult{}, nil
}
func (NoMetrics) AttemptRate(context.Context, promsource.Scope) (keyResult, error) {
	return keyResult{}, nil
}
func (NoMetrics) ErrorRatio(context.Context, promsource.Scope) (keyResult, error) {
	return keyResult{}, nil
}
func (NoMetrics) ThrottleRatio(context.Context, promsource.Scope) (keyResult, error) {
	return keyResult{}, nil
}
func (NoMetrics) LatencyP99(context.Context, promsource.Scope) (keyResult, error) {
	return keyResult{}, nil
}
func (NoMetrics) TokensPerMinute(context.Context, promsource.Scope) (keyResult, error) {
	return keyResult{}, nil
}
func (NoMetrics) CostPerMinute(context.Context, promsource.Scope) (keyResult, error) {
	return keyResult{}, nil
}
func (NoMetrics) TokensToday(context.Context, promsource.Scope) (keyResult, error) {
	return keyResult{}, nil
}
func (NoMetrics) CostToday(context.Context, promsource.Scope) (keyResult, error) {
	return keyResult{}, nil
}

func (NoMetrics) WorkloadTokensPerMinute(context.Context, promsource.Scope) (promsource.Result[promsource.WorkloadKey], error) {
	return promsource.Result[promsource.WorkloadKey]{}, nil
}

func (NoMetrics) WorkloadCostPerMinute(context.Context, promsource.Scope) (promsource.Result[promsource.WorkloadKey], error) {
	return promsource.Result[promsource.WorkloadKey]{}, nil
}
