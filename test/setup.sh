#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, as root, for skiff's tests, demo and
# benchmarks: Debian packages, the clients the tests drive (test/clients.sh,
# whose builds go on in the background), the unprivileged test users, /dev/net/tun,
# two local registries on 127.0.0.1 (plain on :5000; htpasswd auth over TLS
# with a self-signed CA on :5001) and the offline test images in them.
# Idempotent: run it again and it only starts what is not running.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
state=${SKIFF_TEST_STATE:-/var/lib/skiff-test}
user=${SKIFF_TEST_USER:-skifftest}
nosub=${SKIFF_TEST_NOSUB_USER:-skiffnosub}

log() { printf 'setup: %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { echo "setup: run as root" >&2; exit 1; }

# Every program skiff, its helpers or the tests run (test/tools_required_test.go
# lists them and fails when one is missing). Debian's netavark 1.4 runs
# iptables without depending on it.
pkgs=(uidmap runc crun catatonit passt slirp4netns netavark aardvark-dns iptables systemd docker-registry busybox-static apache2-utils openssl ca-certificates iproute2 procps bsdutils diffutils tar coreutils)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# Without systemd, package scripts must not try to start the registry.
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	rm -f /usr/sbin/policy-rc.d
fi
command -v go >/dev/null || export PATH=$PATH:/usr/local/go/bin

# The real clients the e2e tests drive (test/clients.sh): Debian's are
# installed now; the ones built from Go modules (minutes, once per version:
# cached in /var/cache/skiff-test/clients) build in the background, and
# test/run.sh waits for them (test/clients.sh wait) before the e2e suite.
bash "$here/clients.sh" start

# Users: one with a subordinate range, one without (for the error path).
if ! id "$user" >/dev/null 2>&1; then useradd -m -s /bin/bash "$user"; fi
if ! grep -q "^$user:" /etc/subuid; then usermod --add-subuids 100000-165535 "$user"; fi
if ! grep -q "^$user:" /etc/subgid; then usermod --add-subgids 100000-165535 "$user"; fi
if ! id "$nosub" >/dev/null 2>&1; then useradd -m -s /bin/bash "$nosub"; fi
sed -i "/^$nosub:/d" /etc/subuid /etc/subgid

# pasta and slirp4netns open /dev/net/tun as the user.
[ -e /dev/net/tun ] && chmod 0666 /dev/net/tun

# Registry state, certificates and credentials.
mkdir -p "$state"/{plain,auth,certs}
if [ ! -s "$state/certs/ca.crt" ]; then
	log "making a CA and a certificate for 127.0.0.1"
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=skiff test CA" \
		-keyout "$state/certs/ca.key" -out "$state/certs/ca.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$state/certs/server.key" -out "$state/certs/server.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$state/certs/san.ext"
	openssl x509 -req -in "$state/certs/server.csr" -CA "$state/certs/ca.crt" -CAkey "$state/certs/ca.key" \
		-CAcreateserial -days 3650 -extfile "$state/certs/san.ext" -out "$state/certs/server.crt" 2>/dev/null
fi
chmod 0644 "$state/certs/ca.crt"
htpasswd -Bbc "$state/htpasswd" skiffuser skiffpass 2>/dev/null
# Every user on the machine trusts the CA for the auth registry.
mkdir -p /etc/containers/certs.d/127.0.0.1:5001
cp "$state/certs/ca.crt" /etc/containers/certs.d/127.0.0.1:5001/ca.crt

cat > "$state/plain.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $state/plain}, delete: {enabled: true}}
http: {addr: 127.0.0.1:5000}
YAML
cat > "$state/auth.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $state/auth}, delete: {enabled: true}}
http: {addr: 127.0.0.1:5001, tls: {certificate: $state/certs/server.crt, key: $state/certs/server.key}}
auth: {htpasswd: {realm: skiff-test, path: $state/htpasswd}}
YAML

start_registry() { # name port
	local name=$1 port=$2 pidf="$state/$1.pid"
	if [ -s "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then return; fi
	nohup docker-registry serve "$state/$name.yml" > "$state/$name.log" 2>&1 &
	echo $! > "$pidf"
	for _ in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return; fi
		sleep 0.1
	done
	log "registry $name did not start:"; cat "$state/$name.log" >&2; exit 1
}
start_registry plain 5000
start_registry auth 5001

# Offline test images, built from busybox-static and pushed to both registries.
log "building and pushing test images"
cd "$top"
GOFLAGS="-buildvcs=false -tags=containers_image_openpgp,exclude_graphdriver_btrfs" \
	go run ./test/fixtures/mkimages -cache "$state/images" -ca "$state/certs/ca.crt" \
	-plain 127.0.0.1:5000 -auth 127.0.0.1:5001 -user skiffuser -password skiffpass
log "ready: registries on 127.0.0.1:5000 (plain) and 127.0.0.1:5001 (TLS + auth), user $user"
