// Package promsource reads the guards' metrics back through PromQL, for the manager's control loops
// (failover triggers, ModelEndpoint traffic figures, TokenQuota usage).
//
// It talks to any Prometheus-compatible query API (Prometheus, Thanos, Mimir, Amazon Managed Service
// for Prometheus with SigV4 signing) through github.com/prometheus/client_golang/api. Every PromQL
// expression is built in queries.go, one documented function per query, from the metric names the
// guard registers in internal/metrics.
//
// A series that Prometheus does not have is never reported as zero: each method returns a Result
// whose Get says whether a value exists. A decision made on "no data" as if it were "no traffic"
// would shift weight or restore workloads on a blind spot, so callers must treat a missing key as
// unknown.
//
// # Scrape configuration
//
// The guard's metrics carry no namespace or workload label: a guard only knows its own config. The
// per-namespace filter and the per-workload usage queries read the labels namespace and workload,
// which the Prometheus scrape job must set from the pod. The webhook annotates every injected pod
// with breakwater.dev/injected=<GenAIWorkload name> and names the guard's admin port guard-admin;
// the job below keeps exactly those ports and copies the annotation into workload. The
// relabel_configs part is GuardRelabelConfigs, which the tests run through a real Prometheus.
//
//	scrape_configs:
//	  - job_name: breakwater-guard
//	    kubernetes_sd_configs:
//	      - role: pod
//	    relabel_configs:
//	      # Only pods the webhook injected, and only the guard's admin port on them.
//	      - source_labels: [__meta_kubernetes_pod_annotation_breakwater_dev_injected]
//	        regex: .+
//	        action: keep
//	      - source_labels: [__meta_kubernetes_pod_container_name, __meta_kubernetes_pod_container_port_name]
//	        regex: breakwater-guard;guard-admin
//	        action: keep
//	      # The labels the usage queries group by.
//	      - source_labels: [__meta_kubernetes_namespace]
//	        target_label: namespace
//	      - source_labels: [__meta_kubernetes_pod_annotation_breakwater_dev_injected]
//	        target_label: workload
//	      - source_labels: [__meta_kubernetes_pod_name]
//	        target_label: pod
//
// A Prometheus Operator PodMonitor does the same with podMetricsEndpoints[].port: guard-admin and
// the three relabelings above. Without the namespace label, Scope.Namespace must stay empty; without
// the workload label, the workload queries return no data.
//
// Windows must span at least two scrapes (rate needs two samples); a shorter window yields no data,
// not zero.
package promsource
