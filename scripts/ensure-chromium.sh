#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium for the browser e2e tests
# (test/e2e/): playwright-core drives it but downloads no browser of its own. Idempotent and
# cheap when it is already installed; installs the `chromium` package otherwise (needs root).
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x $CHROMIUM ]]; then
  echo "chromium: ok ($CHROMIUM)"
  exit 0
fi

echo "chromium: $CHROMIUM is missing, installing Debian's chromium package"
if [[ $(id -u) -ne 0 ]]; then
  echo "chromium: ERROR: installing chromium needs root (apt-get install chromium)" >&2
  exit 1
fi
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2; then
  echo "chromium: ERROR: apt-get install chromium failed; the browser tests (test/e2e) need $CHROMIUM" >&2
  exit 1
fi
if [[ ! -x $CHROMIUM ]]; then
  echo "chromium: ERROR: the chromium package installed but $CHROMIUM is not there" >&2
  exit 1
fi
echo "chromium: installed ($("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"))"
