// Package harness runs the whole of Breakwater on one machine, for real, for `make demo`, the
// end-to-end suite and the manager figures of `make bench`: a kube-apiserver and etcd (the envtest
// binaries from hack/), the CRDs and the guard-injection webhook configuration, the manager binary
// serving that webhook, a real Prometheus (Debian's package), the upstream simulator playing two
// Bedrock regions, an OpenAI-compatible server and an OpenSearch backend, and one guard process per
// GenAIWorkload started exactly as the injected container would be (same flags, config watched
// through the API server with a token of the workload's ServiceAccount), each driven by a load
// generator that calls it with the real aws-sdk-go-v2 Bedrock Runtime client.
//
// Nothing runs pods here: the harness creates each Deployment's pods through the API server (so the
// webhook injects them) and plays the kubelet's part only in starting the guard. Scaling a
// Deployment changes its spec.replicas, and the load generator of that workload follows it: a
// workload scaled to zero sends nothing, as its pods would be gone.
//
// Story plays the scripted incident and returns its timeline; every process the harness starts is
// stopped by System.Stop, including on failure.
package harness
