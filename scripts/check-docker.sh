#!/usr/bin/env bash
# Checks the Dockerfile without a Docker engine: its structure (multi-stage, non-root
# runtime user, /data volume, HEALTHCHECK, no secrets baked in), then runs the exact
# build command of its build stage and checks that the binary is static and answers
# /healthz when started on the configuration the image ships.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "check-docker: $*" >&2; exit 1; }
D=Dockerfile
[ -f $D ] || fail "no Dockerfile"
[ "$(grep -c '^FROM ' $D)" -ge 2 ] || fail "want a multi-stage build (two FROM lines)"
grep -q '^USER [0-9]*:[0-9]*' $D || fail "the runtime image must set a numeric non-root USER"
grep -q '^USER 0\|^USER root' $D && fail "the runtime image runs as root"
grep -q '^VOLUME \["/data"\]' $D || fail "want VOLUME [\"/data\"] for the database"
grep -A2 '^HEALTHCHECK' $D | grep -q healthz || fail "want a HEALTHCHECK on /healthz"
grep -qiE '^(ENV|ARG) .*(TOKEN|SECRET|PASSWORD)' $D && fail "a secret is baked into the image"
grep -qE '^ADD +https?://' $D && fail "ADD of a URL: fetch in a build step with a checksum instead"
# The build stage's command, taken from the Dockerfile itself.
tags=$(sed -n "s/.*-tags '\([^']*\)'.*/\1/p" $D)
[ "$tags" = "sqlite_omit_load_extension netgo osusergo" ] || fail "unexpected build tags: $tags"
grep -q -- "-linkmode external -extldflags '-static'" $D || fail "the build must link statically"
out=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$out"' EXIT
CGO_ENABLED=1 go build -trimpath -tags "$tags" \
  -ldflags "-linkmode external -extldflags '-static' -s -w -X main.version=check" \
  -o "$out/warroom" ./cmd/warroom 2> >(grep -v "getaddrinfo\|^$" >&2 || true)
if command -v file >/dev/null 2>&1; then
  file "$out/warroom" | grep -q 'statically linked' || fail "binary is not static: $(file "$out/warroom")"
fi
if ldd "$out/warroom" >/dev/null 2>&1; then fail "ldd lists dynamic dependencies"; fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WARROOM_INGEST_TOKEN=check WARROOM_API_TOKEN=check "$out/warroom" serve --config deploy/config.docker.yaml \
  --listen "127.0.0.1:$port" --db "$out/w.db" >"$out/log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  if "$out/warroom" health --url "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
    "$out/warroom" version
    echo "check-docker: ok (static binary answers /healthz)"
    exit 0
  fi
  kill -0 $pid 2>/dev/null || fail "the static binary exited: $(tail -3 "$out/log")"
  sleep 0.1
done
fail "no answer on /healthz: $(tail -3 "$out/log")"
