#!/usr/bin/env bash
# Provides an nginx binary for the guard benchmark (test/bench/guardbench), which measures the guard
# against nginx as a plain reverse proxy, and prints its path: $NGINX, `nginx` on PATH, or Debian's
# package (see hack/debian-tool.sh).
exec "$(dirname "$0")/debian-tool.sh" nginx nginx /usr/sbin/nginx NGINX
