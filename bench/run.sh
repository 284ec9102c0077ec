#!/usr/bin/env bash
# One command for the benchmarks, as root on a fresh Debian 12 machine:
# sets up the registry and images and installs podman 4.3.1, the comparison
# (test/setup.sh, with the tests' other clients), builds skiff and runs the
# named benchmark (default: pull).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
bash test/setup.sh
make build
export GOFLAGS="-buildvcs=false -tags=containers_image_openpgp,exclude_graphdriver_btrfs"
go run ./bench "${1:-pull}" "${@:2}"
