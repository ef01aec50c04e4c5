#!/usr/bin/env bash
# Stop what tests/slurm/start_cluster.sh STATE_DIR started, by the PIDs in its pid files.
# munged is stopped only when start_cluster.sh started it (STATE_DIR/munged.pid exists).
set -uo pipefail

STATE=${1:?usage: stop_cluster.sh STATE_DIR}
pids=()
for name in slurmd slurmctld munged; do
    file="$STATE/$name.pid"
    [ -s "$file" ] || continue
    pid=$(cat "$file")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" && pids+=("$pid")
    fi
done
# The /etc/slurm/slurm.conf link that start_cluster.sh made, if it still points at our config.
if [ -s "$STATE/linked_conf" ]; then
    link=$(cat "$STATE/linked_conf")
    [ "$(readlink "$link")" = "$STATE/slurm.conf" ] && rm -f "$link"
fi
# Wait (up to 10 s) for them to exit, then insist.
for _ in $(seq 100); do
    alive=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    [ ${#alive[@]} -eq 0 ] && exit 0
    sleep 0.1
done
for pid in "${alive[@]}"; do kill -9 "$pid" 2>/dev/null; done
exit 0
