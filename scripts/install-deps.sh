#!/usr/bin/env bash
# Installs every Debian 12 package that glfm's build, tests and benchmarks need.
# Idempotent: skips what is present, so `make run` / `make test` call it every time.
# Run as root (CI and the dev machines are root); otherwise it uses sudo if available.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config
  # libraries
  libboost-dev libsimdjson-dev nlohmann-json3-dev libyaml-cpp-dev libsqlite3-dev libpq-dev
  libcurl4-openssl-dev libssl-dev libre2-dev libabsl-dev libgoogle-perftools-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev clang-format clang-tidy
  postgresql sqlite3 nginx-light wrk curl jq python3 python3-boto3 awscli
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js and npm (for the AWS SDK for JavaScript tests) may come from outside Debian on the
# dev image; only install Debian's when no npm is on the PATH.
if ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
