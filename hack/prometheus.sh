#!/usr/bin/env bash
# Provides a Prometheus server binary (and promtool beside it) for the tests that run a real
# Prometheus (internal/promsource, test/monitoring, test/e2e) and the benchmarks, and prints its path:
# $PROMETHEUS, `prometheus` on PATH, or Debian's package (see hack/debian-tool.sh).
exec "$(dirname "$0")/debian-tool.sh" prometheus prometheus /usr/bin/prometheus PROMETHEUS
