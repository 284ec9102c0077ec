#!/usr/bin/env bash
# Installs the real clients skiff's end-to-end tests drive, as root on a
# Debian 12 machine: from Debian, podman 4.3.1, buildah, docker-compose 1.29
# and etcd; built from their Go modules into a cache outside the clone,
# docker compose v2 (the CLI plugin), kube-apiserver and, only where no
# docker CLI is installed, the docker CLI.
#
#   clients.sh [install]  Debian packages, then each missing build, in the foreground
#   clients.sh start      Debian packages; the missing builds go on in the background
#   clients.sh wait       waits for a background build, then installs (exit 1 if it failed)
#   clients.sh build      only the builds, in the foreground (what start runs)
#
# Cache: $SKIFF_CLIENTS_CACHE (/var/cache/skiff-test/clients), one directory
# per client and version (compose-2.40.3/docker-compose ...), reused while
# its key file matches: the Go version and a hash of the recipe (the build
# function below, and for kube-apiserver test/clients/kube-apiserver/go.*).
# A directory of another version of a client is removed. The binaries are
# copied from the cache to where the tests find them:
#   /usr/local/lib/docker/cli-plugins/docker-compose  (docker compose, every user)
#   /usr/local/bin/kube-apiserver
#   /usr/local/bin/docker                              (when missing)
# Idempotent: with a warm cache it installs nothing and builds nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${SKIFF_CLIENTS_CACHE:-/var/cache/skiff-test/clients}
mode=${1:-install}

compose_version=2.40.3
docker_cli_version=28.5.2
kube_recipe=$here/clients/kube-apiserver
kube_version=$(sed -n 's/^[[:space:]]*k8s\.io\/kubernetes v\([0-9][0-9.]*\).*/\1/p' "$kube_recipe/go.mod")
# Debian's packages of the clients (test/clients_required_test.go reads this list).
client_pkgs=(podman buildah docker-compose etcd-server)

plugin_dir=/usr/local/lib/docker/cli-plugins
# The PATH the e2e tests run programs with (test/harness_test.go).
test_path=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin

log() { printf 'clients: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
command -v go >/dev/null || export PATH=$PATH:/usr/local/go/bin
[ -n "$kube_version" ] || die "no k8s.io/kubernetes version in $kube_recipe/go.mod"
# The builds use only the module proxy: no workspace, no toolchain download,
# none of skiff's build tags. cgo keeps Go's default, as every other build
# here does, so what the shared GOCACHE holds already is reused.
export GOFLAGS=-buildvcs=false GOWORK=off GOTOOLCHAIN=local
unset GOOS GOARCH
mkdir -p "$cache"

# --- Debian's clients ------------------------------------------------------

install_packages() {
	local missing=() p
	for p in "${client_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	if [ ${#missing[@]} -eq 0 ]; then
		log "apt: ${client_pkgs[*]} already installed"
		return
	fi
	log "apt: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# setup.sh updated the lists a moment ago on a fresh machine.
	if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -60 2>/dev/null | head -1)" ]; then
		apt-get update -qq
	fi
	# Without systemd, package scripts must not try to start etcd.
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	rm -f /usr/sbin/policy-rc.d
}

# --- Go clients --------------------------------------------------------------
# build_NAME OUT builds into the directory OUT (the cache entry, made aside
# and renamed into place).

module_dir() { # module@version: its source in the module cache
	local out
	out=$(go mod download -json "$1") || die "go mod download $1: $out"
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<< "$out"
}

# compose's go.mod has exclude directives, so `go install` refuses it: it is
# built as the main module in its own directory.
build_compose() {
	local src
	src=$(module_dir "github.com/docker/compose/v2@v$compose_version")
	(cd "$src" && go build -trimpath -o "$1/docker-compose" \
		-ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=v$compose_version" ./cmd)
}

# The docker CLI has no go.mod (vendor.mod instead, and +incompatible
# versions): a copy of its source gets one and is built as the main module.
build_docker_cli() {
	local src work=$1/src
	src=$(module_dir "github.com/docker/cli@v$docker_cli_version+incompatible")
	mkdir -p "$work"
	cp -r "$src/." "$work/"
	chmod -R u+w "$work"
	rm -rf "$work/vendor"
	cp "$work/vendor.mod" "$work/go.mod"
	cp "$work/vendor.sum" "$work/go.sum"
	(cd "$work" && go build -mod=mod -trimpath -o "$1/docker" \
		-ldflags "-s -w -X github.com/docker/cli/cli/version.Version=$docker_cli_version" ./cmd/docker)
	rm -rf "$work"
}

build_kube_apiserver() {
	local v=k8s.io/component-base/version cv=k8s.io/client-go/pkg/version flags="-s -w" pkg
	local minor=${kube_version#*.}; minor=${minor%%.*}
	for pkg in $v $cv; do
		flags+=" -X $pkg.gitVersion=v$kube_version -X $pkg.gitMajor=${kube_version%%.*} -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
	done
	(cd "$kube_recipe" && go build -trimpath -o "$1/kube-apiserver" -ldflags "$flags" k8s.io/kubernetes/cmd/kube-apiserver)
}

# key NAME: what a cache entry of NAME was built with.
key() {
	{
		go env GOVERSION
		declare -f "build_$1"
		case $1 in
		compose) echo "$compose_version" ;;
		docker_cli) echo "$docker_cli_version" ;;
		kube_apiserver) echo "$kube_version"; cat "$kube_recipe/go.mod" "$kube_recipe/go.sum" ;;
		esac
	} | sha256sum | cut -d' ' -f1
}

# entry NAME: the cache directory of NAME's current version.
entry() {
	case $1 in
	compose) echo "$cache/compose-$compose_version" ;;
	docker_cli) echo "$cache/docker-cli-$docker_cli_version" ;;
	kube_apiserver) echo "$cache/kube-apiserver-$kube_version" ;;
	esac
}

cached() { [ "$(cat "$(entry "$1")/key" 2>/dev/null)" = "$(key "$1")" ]; }

# The docker CLI is built only where the tests would find none, or where the
# one they find is a copy of an older build of this cache.
wants_docker_cli() {
	local found d
	found=$(PATH=$test_path command -v docker || true)
	[ -z "$found" ] && return 0
	for d in "$cache"/docker-cli-*/docker; do
		[ -f "$d" ] && cmp -s "$d" "$found" && return 0
	done
	return 1
}

wanted() {
	echo compose kube_apiserver
	if wants_docker_cli; then echo docker_cli; fi
}

build() { # NAME
	local dir tmp start
	dir=$(entry "$1")
	if cached "$1"; then
		log "${1//_/-}: cached in $dir"
		return
	fi
	tmp=$cache/.tmp-$(basename "$dir")
	rm -rf "$tmp" "$dir"
	mkdir -p "$tmp"
	log "${1//_/-}: building into $dir"
	start=$SECONDS
	"build_$1" "$tmp"
	key "$1" > "$tmp/key"
	mv "$tmp" "$dir"
	log "${1//_/-}: built in $((SECONDS - start)) s"
}

place() { # SRC DEST: copies SRC to DEST unless it is there already
	if cmp -s "$1" "$2"; then return; fi
	mkdir -p "$(dirname "$2")"
	install -m 0755 "$1" "$2.tmp.$$"
	mv -f "$2.tmp.$$" "$2"
	log "installed $2 (from $1)"
}

# remove_stale: cache entries of other versions of the clients, and what a
# killed build left.
remove_stale() {
	local d keep
	keep=" $(entry compose) $(entry docker_cli) $(entry kube_apiserver) "
	for d in "$cache"/compose-* "$cache"/docker-cli-* "$cache"/kube-apiserver-* "$cache"/.tmp-*; do
		[ -e "$d" ] || continue
		case $keep in *" $d "*) continue ;; esac
		rm -rf "$d"
		log "removed stale $d"
	done
}

# lock: holds the cache's lock until the script exits, so that two setups at
# once (or a background build and a wait) build once.
lock() {
	exec 9> "$cache/.lock"
	flock 9
}

# install_clients builds what is missing and installs it (under the lock).
install_clients() {
	local name
	for name in $(wanted); do build "$name"; done
	remove_stale
	place "$(entry compose)/docker-compose" "$plugin_dir/docker-compose"
	place "$(entry kube_apiserver)/kube-apiserver" /usr/local/bin/kube-apiserver
	if [ -f "$(entry docker_cli)/docker" ] && wants_docker_cli; then
		place "$(entry docker_cli)/docker" /usr/local/bin/docker
	fi
}

# --- background builds ---------------------------------------------------------

bg_log=$cache/build.log
bg_status=$cache/build.status

start_background() {
	local name todo=()
	for name in $(wanted); do cached "$name" || todo+=("${name//_/-}"); done
	if [ ${#todo[@]} -eq 0 ]; then
		(lock; install_clients)
		return
	fi
	rm -f "$bg_status"
	# The child writes its exit status last; wait reads it.
	# The child only builds (the packages are installed here, by one apt) and
	# writes its exit status before it lets go of the lock.
	setsid nohup bash "$here/clients.sh" build > "$bg_log" 2>&1 < /dev/null &
	log "building ${todo[*]} in the background (pid $!, log $bg_log); test/clients.sh wait waits for it"
}

wait_background() {
	local start=$SECONDS
	exec 9> "$cache/.lock"
	if ! flock -n 9; then
		log "waiting for the background build (log $bg_log)"
		# A build that takes longer than this has hung: CI's run has 90 minutes.
		flock -w 2400 9 || die "the background build still holds $cache/.lock after 40 minutes"
		log "waited $((SECONDS - start)) s"
	fi
	if [ -s "$bg_status" ]; then
		local status
		status=$(cat "$bg_status")
		rm -f "$bg_status"
		sed 's/^/  | /' "$bg_log" >&2
		[ "$status" = 0 ] || die "the background build failed (log above, $bg_log)"
	fi
	install_clients
}

case $mode in
install) install_packages; lock; install_clients ;;
build) lock; trap 'echo $? > "$bg_status"' EXIT; install_clients ;;
start) start_background; install_packages ;;
wait) wait_background ;;
*) die "usage: clients.sh [install|start|wait|build]" ;;
esac
