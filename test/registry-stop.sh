#!/usr/bin/env bash
# Stops the test registries that setup.sh started, by PID.
state=${SKIFF_TEST_STATE:-/var/lib/skiff-test}
for n in plain auth; do
	pidf="$state/$n.pid"
	[ -s "$pidf" ] || continue
	kill "$(cat "$pidf")" 2>/dev/null || true
	rm -f "$pidf"
done
