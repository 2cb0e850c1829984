#!/usr/bin/env bash
# Longer runs of the reliability suite than CI's (docs/reliability.md).
#
#   scripts/reliability-long.sh fuzz [--cases N] [--seed S] [--concurrency C]
#       One long fuzz run of the DICOM port (default 20000 cases, a random seed, printed).
#       Replay a reported case range with the same --seed.
#   scripts/reliability-long.sh all [--rounds R] [--cases N] [--seed S]
#       The whole of test/reliability (fault scenarios, load, security, fuzz) R times
#       (default 3), each round with its own seed for the fault proxy and the fuzzer.
#
# Both run through the README's test command (test/support/run-tests.sh: Ceph RGW, the
# loopback-only network namespace), collect every scenario's figures as JSON lines, and
# print them as the markdown table docs/reliability.md shows. Figures and the vitest output
# are kept under ${RELIABILITY_OUT:-/tmp/reliability-<date>}. regressions.test.ts (known open
# bugs, failing by design) is left out unless --with-regressions is given.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

mode="${1:-fuzz}"
[ $# -gt 0 ] && shift
cases=""
seed=""
rounds=3
concurrency=6
with_regressions=""
while [ $# -gt 0 ]; do
  case "$1" in
    --cases) cases="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --with-regressions) with_regressions=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "reliability-long: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$seed" ] || seed=$(( (RANDOM << 15 | RANDOM) ))
out="${RELIABILITY_OUT:-/tmp/reliability-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
figures="$out/figures.jsonl"
: > "$figures"
export RELIABILITY_FIGURES_FILE="$figures"
export FUZZ_CONCURRENCY="$concurrency"
exclude=()
[ -n "$with_regressions" ] || exclude=(--exclude test/reliability/regressions.test.ts)

say() { echo "reliability-long: $*" >&2; }
status=0
case "$mode" in
  fuzz)
    export FUZZ_SEED="$seed" FUZZ_CASES="${cases:-20000}"
    say "fuzz: seed $FUZZ_SEED, $FUZZ_CASES cases, $concurrency at a time; output in $out"
    bash test/support/run-tests.sh test/reliability/fuzz.test.ts 2>&1 | tee "$out/vitest-fuzz.log" || status=$?
    ;;
  all)
    for ((round = 1; round <= rounds; round++)); do
      export RELIABILITY_SEED=$((seed + round - 1)) FUZZ_SEED=$((seed + round - 1)) FUZZ_CASES="${cases:-2000}"
      say "round $round/$rounds: seed $RELIABILITY_SEED, $FUZZ_CASES fuzz cases; output in $out"
      bash test/support/run-tests.sh test/reliability "${exclude[@]}" 2>&1 | tee "$out/vitest-round-$round.log" || status=$?
    done
    ;;
  *)
    echo "reliability-long: mode must be fuzz or all" >&2
    exit 2
    ;;
esac

# The figures as a markdown table (one row per scenario run).
node --input-type=module -e '
import { readFileSync } from "node:fs";
const rows = readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const cols = ["scenario", "sent", "acknowledged", "failedAsReported", "unanswered", "stored", "lost", "orphanedUploads", "orphanedBySigkill", "complete"];
const scenarios = rows.filter((r) => "sent" in r);
if (scenarios.length) {
  console.log(`| ${cols.join(" | ")} |`);
  console.log(`|${cols.map(() => "---").join("|")}|`);
  for (const r of scenarios) console.log(`| ${cols.map((c) => String(r[c] ?? "")).join(" | ")} |`);
}
for (const r of rows.filter((x) => !("sent" in x))) console.log(`\n${r.scenario}: ${JSON.stringify(r)}`);
const bad = scenarios.filter((r) => r.lost || r.orphanedUploads || !r.complete);
if (bad.length) console.log(`\nINVARIANT VIOLATIONS in: ${bad.map((r) => r.scenario).join(", ")}`);
' "$figures" | tee "$out/figures.md"
say "figures: $figures (table: $out/figures.md); exit status $status"
exit "$status"
