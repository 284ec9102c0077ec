#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine, as root: set up, build skiff,
# and as the unprivileged test user pull the offline busybox image from the
# local registry and run a rootless container from it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
bash test/setup.sh
make build
install -m 0755 bin/skiff /usr/local/bin/skiff
user=${SKIFF_TEST_USER:-skifftest}
home=$(getent passwd "$user" | cut -d: -f6)
install -d -o "$user" -g "$user" "$home/.config/containers"
cat > "$home/.config/containers/registries.conf" <<CONF
unqualified-search-registries = ["127.0.0.1:5000"]
[[registry]]
location = "127.0.0.1:5000"
insecure = true
CONF
chown "$user:" "$home/.config/containers/registries.conf"
cd /tmp
runuser -u "$user" -- skiff pull skiff/busybox
runuser -u "$user" -- skiff images
runuser -u "$user" -- skiff run --rm skiff/busybox sh -c 'echo "hello from a rootless container: $(id -un) in $(hostname)"; cat /proc/self/uid_map'

