#!/usr/bin/env bash
# run.sh BUILD: runs every libFuzzer harness in BUILD/fuzz for FUZZ_SECONDS
# (default 30) each, keeping corpora in BUILD/corpus/NAME, seeded from
# tests/fuzz/corpus/NAME when it exists. Stops at the first crash.
set -euo pipefail
build=${1:-build/fuzz}
seconds=${FUZZ_SECONDS:-30}
here=$(cd "$(dirname "$0")" && pwd)
shopt -s nullglob
harnesses=()
for f in "$build"/fuzz/fuzz_*; do [ -x "$f" ] && [ -f "$f" ] && harnesses+=("$f"); done
logs="$build/logs"
mkdir -p "$logs"
[ ${#harnesses[@]} -gt 0 ] || { echo "fuzz: no harness built in $build/fuzz" >&2; exit 1; }
for bin in "${harnesses[@]}"; do
	name=$(basename "$bin")
	corpus="$build/corpus/$name"
	mkdir -p "$corpus"
	seeds=()
	[ -d "$here/corpus/$name" ] && seeds=("$here/corpus/$name")
	echo "fuzz: $name for ${seconds}s"
	"$bin" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$logs/$name-" "$corpus" "${seeds[@]}" \
		2>"$logs/$name.log" || { tail -50 "$logs/$name.log" >&2; exit 1; }
	grep -E '^stat::number_of_executed_units' "$logs/$name.log" || true
done
