#!/usr/bin/env bash
# A Kubernetes API server for tests, on 127.0.0.1 only, as root: Debian's
# etcd and the kube-apiserver test/clients.sh builds, with no nodes, no
# controllers and no cluster around them. Any token in DIR/token may do
# anything (AlwaysAllow); its job is to accept or refuse objects, e.g.
# POST .../pods?dryRun=All&fieldValidation=Strict.
#
#   kubeapi.sh start [DIR]   starts etcd and kube-apiserver on free ports (or
#                            finds them running) and waits until /readyz
#                            answers; prints DIR/env
#   kubeapi.sh stop [DIR]    stops both and removes etcd's data
#
# DIR ($SKIFF_KUBEAPI_DIR, else /var/lib/skiff-test/kubeapi-$SKIFF_TEST_USER)
# then holds:
#   env         KUBEAPI_URL=https://127.0.0.1:PORT, KUBEAPI_TOKEN=..., KUBEAPI_CA=DIR/ca.crt, KUBECONFIG=DIR/kubeconfig
#   kubeconfig  the same for kubectl-like clients
#   ca.crt      the self-signed serving certificate (for 127.0.0.1 and localhost)
#   token       the bearer token
#   *.log       etcd's and kube-apiserver's output
set -euo pipefail
mode=${1:-}
dir=${2:-${SKIFF_KUBEAPI_DIR:-${SKIFF_TEST_STATE:-/var/lib/skiff-test}/kubeapi-${SKIFF_TEST_USER:-skifftest}}}

log() { printf 'kubeapi: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

alive() { [ -s "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

# free_port VAR: sets VAR to an unused TCP port on 127.0.0.1, away from the
# usual ones and from the ports taken before.
taken=" "
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 20000))
		case $taken in *" $p "*) continue ;; esac
		if [ -z "$(ss -Htln "sport = :$p")" ]; then
			taken+="$p "
			printf -v "$1" %s "$p"
			return
		fi
	done
	die "no free port on 127.0.0.1"
}

# readyz: the status line of GET /readyz (HTTP over TLS through openssl).
readyz() {
	# shellcheck disable=SC1090
	. "$dir/env"
	printf 'GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n' "$KUBEAPI_TOKEN" |
		timeout 10 openssl s_client -quiet -verify_return_error -CAfile "$KUBEAPI_CA" \
			-connect "${KUBEAPI_URL#https://}" 2>/dev/null | head -1 | tr -d '\r'
}

stop_one() { # NAME
	local pid
	alive "$1" || { rm -f "$dir/$1.pid"; return 0; }
	pid=$(cat "$dir/$1.pid")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	rm -f "$dir/$1.pid"
}

stop() {
	stop_one kube-apiserver
	stop_one etcd
	rm -rf "$dir/etcd-data"
}

credentials() {
	mkdir -p "$dir"
	chmod 0755 "$dir"
	[ -s "$dir/ca.crt" ] && [ -s "$dir/sa.key" ] && [ -s "$dir/token" ] && return
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=skiff-test-kube-apiserver" \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-keyout "$dir/apiserver.key" -out "$dir/ca.crt" 2>/dev/null
	openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
	openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$dir/token"
	printf '%s,skiff-test,skiff-test,system:masters\n' "$(cat "$dir/token")" > "$dir/tokens.csv"
	chmod 0600 "$dir/apiserver.key" "$dir/sa.key" "$dir/tokens.csv"
	chmod 0644 "$dir/ca.crt" "$dir/token"
}

start() {
	local etcd_port peer_port api_port ca start=$SECONDS status
	command -v etcd >/dev/null || die "etcd is missing: run test/clients.sh (apt-get install etcd-server)"
	command -v kube-apiserver >/dev/null || die "kube-apiserver is missing: run test/clients.sh"
	if alive etcd && alive kube-apiserver && [ -s "$dir/env" ] && [[ $(readyz) == *" 200 "* ]]; then
		cat "$dir/env"
		return
	fi
	stop
	credentials
	free_port etcd_port
	free_port peer_port
	free_port api_port
	ca=$(base64 -w0 "$dir/ca.crt")
	cat > "$dir/env" <<ENV
KUBEAPI_URL=https://127.0.0.1:$api_port
KUBEAPI_TOKEN=$(cat "$dir/token")
KUBEAPI_CA=$dir/ca.crt
KUBECONFIG=$dir/kubeconfig
ENV
	cat > "$dir/kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: skiff-test
  cluster: {server: "https://127.0.0.1:$api_port", certificate-authority-data: "$ca"}
users:
- name: skiff-test
  user: {token: "$(cat "$dir/token")"}
contexts:
- name: skiff-test
  context: {cluster: skiff-test, user: skiff-test, namespace: default}
current-context: skiff-test
YAML
	chmod 0644 "$dir/env" "$dir/kubeconfig"

	setsid nohup etcd --name skiff-test --data-dir "$dir/etcd-data" \
		--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
		--initial-cluster "skiff-test=http://127.0.0.1:$peer_port" --initial-cluster-state new \
		--logger zap --log-level warn > "$dir/etcd.log" 2>&1 < /dev/null &
	echo $! > "$dir/etcd.pid"

	# No cluster: no endpoints to reconcile, no service account tokens to
	# mount (the keys are only what the server insists on), every token
	# allowed everything; the serving certificate is the one in ca.crt.
	setsid nohup kube-apiserver \
		--etcd-servers "http://127.0.0.1:$etcd_port" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
		--tls-cert-file "$dir/ca.crt" --tls-private-key-file "$dir/apiserver.key" \
		--token-auth-file "$dir/tokens.csv" --anonymous-auth=false \
		--authorization-mode AlwaysAllow \
		--disable-admission-plugins ServiceAccount \
		--endpoint-reconciler-type none \
		--service-account-issuer https://kubernetes.default.svc \
		--service-account-key-file "$dir/sa.pub" --service-account-signing-key-file "$dir/sa.key" \
		--service-cluster-ip-range 10.96.0.0/16 \
		--allow-privileged=true --enable-priority-and-fairness=false --profiling=false \
		> "$dir/kube-apiserver.log" 2>&1 < /dev/null &
	echo $! > "$dir/kube-apiserver.pid"

	# A loaded 2-core machine takes 10-40 s.
	for _ in $(seq 1 180); do
		for name in etcd kube-apiserver; do
			if ! alive "$name"; then
				tail -20 "$dir/$name.log" >&2
				stop
				die "$name exited (log above, $dir/$name.log)"
			fi
		done
		status=$(readyz || true)
		if [[ $status == *" 200 "* ]]; then
			log "ready in $((SECONDS - start)) s: $(head -1 "$dir/env") (env in $dir/env)"
			cat "$dir/env"
			return
		fi
		sleep 1
	done
	tail -20 "$dir/kube-apiserver.log" >&2
	stop
	die "kube-apiserver not ready after 180 s (last: ${status:-no answer})"
}

[ "$(id -u)" = 0 ] || die "run as root"
case $mode in
start) start ;;
stop) stop ;;
*) die "usage: kubeapi.sh start|stop [DIR]" ;;
esac
