#!/usr/bin/env bash
# `npm run bench [-- --smoke | --profile | --reps N | --only small,ct | --out DIR | --keep]`
# `npm run bench -- ab --b OTHER/dist/listener/main.js [...]`: two listener builds side by side (bench/ab.ts)
#
# storescp listens on every interface (dcmtk 3.6.7 has no bind option), so the
# benchmark runs in a fresh network namespace whose only interface is `lo`,
# and, where possible, a PID namespace, so whatever it started dies with it
# (the harness still stops everything it starts by PID). Inside an already
# isolated network (the test suite's, via `npm test`) it does not unshare again.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export PATH="$repo/node_modules/.bin:$PATH:/usr/sbin:/sbin"

say() { echo "bench: $*" >&2; }

only_loopback() {
  local names
  names="$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//')"
  [ "$names" = "lo" ]
}

if ! only_loopback; then
  if [ "${DICOM_BENCH_IN_NS:-}" = 1 ]; then
    say "still not isolated after unshare; refusing to run"
    exit 1
  fi
  if [ "$(id -u)" -eq 0 ]; then userns=(); else userns=(--user --map-root-user); fi
  ns=(unshare "${userns[@]}" --net --pid --fork --kill-child --mount-proc)
  if ! "${ns[@]}" true 2>/dev/null; then
    say "PID namespace unavailable; using a network namespace only"
    ns=(unshare "${userns[@]}" --net)
  fi
  say "entering an isolated loopback-only network namespace"
  # sh stays PID 1 of the namespace; our exit code is the benchmark's.
  exec "${ns[@]}" env DICOM_BENCH_IN_NS=1 sh -c 'ip link set lo up && exec bash "$0" "$@"' "$repo/bench/run.sh" "$@"
fi

# lo may be down in a namespace someone else made.
if ! ip -o link show lo | grep -q 'LOOPBACK,UP'; then ip link set lo up; fi

for c in storescu storescp dcmcjpeg ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph; do
  command -v "$c" >/dev/null 2>&1 || { say "missing $c: run \`npm test\` once (it installs dcmtk and Ceph) or apt-get install dcmtk ceph-mon ceph-osd radosgw"; exit 1; }
done

say "compiling the listener (tsc -p tsconfig.build.json)"
tsc -p tsconfig.build.json

if [ "${1:-}" = ab ]; then
  shift
  exec node bench/ab.ts "$@"
fi
exec node bench/main.ts "$@"
