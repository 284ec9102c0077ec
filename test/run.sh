#!/usr/bin/env bash
# Runs every skiff test on a fresh Debian 12 machine, as root: installs and
# starts what the tests need (test/setup.sh, which starts building the
# clients the e2e tests drive in the background: test/clients.sh), runs the
# unit tests meanwhile, waits for the clients, runs the end-to-end suite and
# the Go clients' module (test/clients), and stops the registries again.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
bash test/setup.sh
trap 'bash test/kubeapi.sh stop; bash test/registry-stop.sh' EXIT
export GOFLAGS="-buildvcs=false"
tags="containers_image_openpgp exclude_graphdriver_btrfs"
go vet -tags "$tags" ./...
(cd test/clients && go vet ./...)
e2e=$(go list -m)/test
unit=$(go list -tags "$tags" ./... | grep -vxF "$e2e")
# shellcheck disable=SC2086
go test -tags "$tags" -count=1 -timeout 20m $unit
bash test/clients.sh wait
go test -tags "$tags" -count=1 -timeout 45m "$e2e"
(cd test/clients && go test -count=1 ./...)
