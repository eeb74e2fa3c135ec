// Package aws holds Breakwater's AWS metric sources, each behind one narrow
// interface the control loops depend on:
//
//   - QuotaReader: tokens-per-minute quotas from AWS Service Quotas, the
//     account's applied value or else the AWS default, cached and
//     refreshed, still served (marked stale) while AWS is unreachable.
//   - BedrockMetrics: account-wide AWS/Bedrock usage from CloudWatch, so
//     traffic from outside the cluster counts against the same quotas.
//   - ModelCatalog: whether a region serves a model or inference profile,
//     and whether it streams, so an unservable target is never a failover
//     destination.
//
// Every source reports what it does not know explicitly (a stale quota, a
// metric with no datapoints, a region not serving a model) instead of a
// zero that a policy could mistake for a measurement. Errors are *Error
// values naming the operation, region and quota or model, classified as
// throttled, access denied or not found.
//
// The SDK clients come from a ClientFactory, one set per region, with an
// optional BaseEndpoint per service for VPC endpoints and for tests, which
// point the real clients at the wire-protocol fakes in package awsfake.
package aws
