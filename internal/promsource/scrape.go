package promsource

// GuardRelabelConfigs is the relabel_configs list a Prometheus scrape job of role pod needs so that
// the guards' series carry the namespace and workload labels the queries read (see the package
// documentation for the whole job). The tests load it into a real Prometheus, with static targets
// that carry the same __meta_kubernetes_* labels the pod role would, so the rules shown to users are
// the rules that were run.
const GuardRelabelConfigs = `- source_labels: [__meta_kubernetes_pod_annotation_breakwater_dev_injected]
  regex: .+
  action: keep
- source_labels: [__meta_kubernetes_pod_container_name, __meta_kubernetes_pod_container_port_name]
  regex: breakwater-guard;guard-admin
  action: keep
- source_labels: [__meta_kubernetes_namespace]
  target_label: namespace
- source_labels: [__meta_kubernetes_pod_annotation_breakwater_dev_injected]
  target_label: workload
- source_labels: [__meta_kubernetes_pod_name]
  target_label: pod
`
