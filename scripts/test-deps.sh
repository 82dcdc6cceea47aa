#!/usr/bin/env bash
# Installs what the test suite needs beyond Go and gcc, from Debian's packages:
#   iproute2   network namespaces for the nftables connector test
#   chromium   headless browser for the web chat test (bot/local)
#   prometheus, prometheus-alertmanager
#              the Prometheus → Alertmanager → warroom integration test (internal/app)
# Run as root (CI and the project's machines are); elsewhere it only says what is missing
# and the tests that need a missing part skip with a message naming it.
set -euo pipefail
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "test-deps: not root; missing Debian packages: ${need[*]} (tests that need them will skip)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# A registry hiccup must not fail the whole run: the tests that need a missing
# package skip with a message naming it.
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; }; then
  echo "test-deps: could not install ${need[*]}; the tests that need them will skip" >&2
fi
