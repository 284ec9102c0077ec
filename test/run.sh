#!/usr/bin/env bash
# Runs every skiff test on a fresh Debian 12 machine, as root: installs and
# starts what the tests need (test/setup.sh), runs the unit tests and the
# end-to-end suite, and stops the registries again.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
bash test/setup.sh
trap 'bash test/registry-stop.sh' EXIT
export GOFLAGS="-buildvcs=false"
tags="containers_image_openpgp exclude_graphdriver_btrfs"
go vet -tags "$tags" ./...
go test -tags "$tags" -count=1 -timeout 45m ./...
