#!/usr/bin/env bash
# Seconds from a fresh clone's `make run` to its first served page.
#
#   bash benchmarks/first_page.sh [COMMIT] [PORT]
#
# Clones this checkout at COMMIT (default HEAD) into a temporary folder, with a new
# .venv of its own and a SQLite database (DATABASE_URL and REDIS_URL unset), runs
# `make run` there and polls http://127.0.0.1:PORT/login/ until it answers 200. Prints
# the total, then the wall and CPU seconds of each recipe line of `make run` and the load
# average when it ended: on a shared machine the wall time follows the load, the CPU
# time much less. The server is stopped and the folder removed at the end.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
commit=${1:-HEAD}
port=${2:-8712}
work=$(mktemp -d /tmp/first-page.XXXXXX)
server=

finish() {
    if [ -n "$server" ]; then
        kill -- "-$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap finish EXIT

git clone --quiet "$repo" "$work/clone"
git -C "$work/clone" checkout --quiet "$commit"

# A SHELL for make that appends each recipe line's wall and CPU seconds to steps.log.
cat > "$work/timed-shell" <<'SHELL'
#!/usr/bin/env bash
line="${*: -1}"
/usr/bin/time -o "$STEPS.$$" -f "%e %U %S" /bin/bash "$@"
status=$?
read -r wall user sys < "$STEPS.$$"
rm -f "$STEPS.$$"
printf '%7.1f s wall %6.1f s CPU  load %-5s  %s\n' "$wall" "$(echo "$user + $sys" | bc)" \
    "$(cut -d' ' -f1 /proc/loadavg)" "$(echo "$line" | tr -s ' \n\t\\' ' ' | cut -c1-80)" >> "$STEPS"
exit $status
SHELL
chmod +x "$work/timed-shell"

cd "$work/clone"
started=$(date +%s.%N)
STEPS="$work/steps.log" setsid env -u DATABASE_URL -u REDIS_URL PORT="$port" \
    make run SHELL="$work/timed-shell" > "$work/make-run.log" 2>&1 &
server=$!
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/login/")" = 200 ]; do
    if ! kill -0 "$server" 2>/dev/null; then
        tail -n 30 "$work/make-run.log" >&2
        echo "make run ended before serving" >&2
        exit 1
    fi
    sleep 0.5
done
ended=$(date +%s.%N)
printf 'first page after %.1f s (load average %s)\n' "$(echo "$ended - $started" | bc)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
grep -v ' 0.0 s wall' "$work/steps.log"
