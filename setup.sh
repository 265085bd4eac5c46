#!/usr/bin/env bash
# Sets up raft-chaos on a fresh Debian 12 machine (run as root; idempotent):
#   1. Debian packages: RocksDB, clang and protoc for the raftkv build; iptables, iproute2,
#      libfaketime for faults; openssh-server for the SSH backend tests; chromium for the
#      report tests; docker-compose when no Compose CLI is present.
#   2. The Python package (editable, with the dev tools: ruff, mypy).
#   3. raftkv: the release binary (linked against Debian's librocksdb) and, where a Docker
#      engine is reachable, the image raftkv:<version> built FROM scratch (no registry).
#   4. `chaos doctor`, which says what is ready.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(
  librocksdb-dev libclang-dev clang protobuf-compiler pkg-config
  iproute2 iptables util-linux faketime libfaketime
  openssh-server chromium wrk
)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 \
  || APT_PACKAGES+=(docker-compose)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "setup: installing the raft-chaos Python package"
python3 -m pip install -q --disable-pip-version-check -e '.[dev]'
if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi

export PATH="$HOME/.cargo/bin:$PATH"
if python3 -c 'import docker,sys; docker.from_env(timeout=5).ping()' 2>/dev/null; then
  echo "setup: building raftkv and its image (FROM scratch, no registry)"
  python3 -m cluster.image
else
  echo "setup: no Docker engine reachable: building the raftkv binary only;"
  echo "       chaos run will use the local-process backend (network namespaces)"
  (cd cluster/node && cargo build --release --locked -q)
fi

chaos doctor || true
