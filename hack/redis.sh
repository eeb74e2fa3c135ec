#!/usr/bin/env bash
# Provides a Redis server binary for the tests and benchmarks of fleet-wide admission
# (internal/admission, test/admission, test/bench), and prints its path: $REDIS_SERVER,
# `redis-server` on PATH, or Debian's package (see hack/debian-tool.sh).
exec "$(dirname "$0")/debian-tool.sh" redis-server redis-server /usr/bin/redis-server REDIS_SERVER
