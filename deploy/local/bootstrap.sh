#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine: Java and Maven (for Kafka's jars),
# PostgreSQL, openssl, a Python virtualenv with the project and its test tools, the Kafka jars,
# and Chromium for the dashboard's browser test.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || need+=(postgresql postgresql-contrib)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v openssl >/dev/null || need+=(openssl)  # the CA and broker certificate of the TLS listener
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "bootstrap: missing ${need[*]}; install them (sudo apt-get install ${need[*]})" >&2; exit 1; }
  echo "bootstrap: installing ${need[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

# The dashboard's browser test and `make screenshots` drive Debian's Chromium headless through
# Playwright (its own browser downloads, `playwright install`, are never used).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing chromium from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "bootstrap: /usr/bin/chromium is missing; install it (sudo apt-get install chromium)," \
      "else the dashboard's browser test is skipped (and fails in CI)" >&2
  fi
fi

python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "bootstrap: Python >= 3.11 is needed, $python is $("$python" --version)" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating the virtualenv .venv"
  "$python" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip >/dev/null
echo "bootstrap: installing the project and its test tools into .venv"
.venv/bin/pip install -q -e '.[test]' >.venv/pip-install.log 2>&1 \
  || { tail -n 30 .venv/pip-install.log >&2; echo "bootstrap: pip install failed" >&2; exit 1; }
bash deploy/local/kafka.sh fetch

# The contract tests (tests/contracts) validate docs/asyncapi/ with the official AsyncAPI parser,
# an npm package run with node: install node and npm if they are missing, then the parser.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing nodejs npm from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  else
    echo "bootstrap: node and npm are missing; install them (sudo apt-get install nodejs npm)," \
      "else the contract tests fail" >&2
  fi
fi
if command -v node >/dev/null && command -v npm >/dev/null; then
  echo "bootstrap: installing the AsyncAPI parser for the contract tests (npm ci in tests/contracts)"
  npm ci --prefix tests/contracts --ignore-scripts --no-audit --no-fund >.venv/npm-ci.log 2>&1 \
    || { tail -n 30 .venv/npm-ci.log >&2; echo "bootstrap: npm ci failed" >&2; exit 1; }
  # The feed's TypeScript subscriber (subscribers/typescript): models generated from the AsyncAPI
  # document with @asyncapi/modelina, kafkajs; the suite runs it against the real broker.
  echo "bootstrap: building the feed's TypeScript subscriber (npm ci in subscribers/typescript)"
  { npm ci --prefix subscribers/typescript --ignore-scripts --no-audit --no-fund \
      && npm run --prefix subscribers/typescript build; } >.venv/npm-subscriber.log 2>&1 \
    || { tail -n 30 .venv/npm-subscriber.log >&2; echo "bootstrap: the subscriber did not build" >&2; exit 1; }
fi
