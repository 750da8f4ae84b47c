#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: uv, the locked Python environment,
# Debian's rabbitmq-server, promtool, chromium (headless, for one browser test), and our
# FerretDB v1.24 binary (built once with Go into the cache).
# Anything already present is left alone, so running it again takes a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

export PATH="$HOME/.local/bin:$PATH"
if ! command -v uv >/dev/null 2>&1; then
  say "installing uv"
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
fi

say "syncing the locked Python environment (uv.lock)"
uv sync --frozen --quiet

if [ -z "${HUIYIN_AMQP_URL:-}" ] && [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    say "rabbitmq-server is missing and apt-get is not available; set HUIYIN_AMQP_URL instead"
    exit 1
  fi
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  say "installing Debian's rabbitmq-server (the service itself is not started)"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # policy-rc.d keeps the package's init script from starting a system-wide broker.
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    rabbitmq-server >/dev/null
  $SUDO rm -f /usr/sbin/policy-rc.d
fi

# promtool checks and unit-tests the Prometheus alert rules in the suite; Debian's
# prometheus package carries it (only the binary is extracted, no service is installed).
PROMTOOL="${HUIYIN_CACHE:-$HOME/.cache/huiyin}/bin/promtool"
if [ ! -x "$PROMTOOL" ] && ! command -v promtool >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  say "extracting promtool from Debian's prometheus package (alert rule tests)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  tmp="$(mktemp -d)"
  if (cd "$tmp" && { apt-get download prometheus >/dev/null 2>&1 \
        || { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
             && apt-get download prometheus >/dev/null 2>&1; }; } \
      && dpkg-deb -x prometheus_*.deb extracted); then
    mkdir -p "$(dirname "$PROMTOOL")"
    cp "$tmp/extracted/usr/bin/promtool" "$PROMTOOL"
  else
    say "could not fetch promtool; the alert-rule tests will be skipped"
  fi
  rm -rf "$tmp"
fi

# Debian's chromium, run headless by the report page's browser test
# (tests/integration/test_report_page.py), with a Chinese font for its screenshot. Without
# recommends: 25 packages, about 13 s and 405 MB on the 2-core machine. Not fatal: the test
# is skipped where it cannot be had.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  say "installing Debian's chromium and fonts-wqy-microhei (the report page's browser test)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  chromium_install() {
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      chromium fonts-wqy-microhei >/dev/null 2>&1
  }
  if ! chromium_install \
      && ! { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && chromium_install; }; then
    say "could not install chromium; the report page's browser test will be skipped"
  fi
fi

if [ -z "${HUIYIN_MONGO_URL:-}" ]; then
  uv run --frozen python -m deploy.servers build >/dev/null
fi
say "ready"
