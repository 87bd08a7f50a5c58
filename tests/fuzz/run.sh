#!/usr/bin/env bash
# run.sh BUILD: runs every libFuzzer harness in BUILD/fuzz for FUZZ_SECONDS
# (default 30) each, keeping corpora in BUILD/fuzz/corpus/NAME, seeded from
# tests/fuzz/corpus/NAME when it exists. Stops at the first crash.
set -euo pipefail
build=${1:-build/fuzz}
seconds=${FUZZ_SECONDS:-30}
here=$(cd "$(dirname "$0")" && pwd)
shopt -s nullglob
harnesses=("$build"/fuzz/fuzz_*)
[ ${#harnesses[@]} -gt 0 ] || { echo "fuzz: no harness built in $build/fuzz" >&2; exit 1; }
for bin in "${harnesses[@]}"; do
	name=$(basename "$bin")
	corpus="$build/fuzz/corpus/$name"
	mkdir -p "$corpus"
	seeds=()
	[ -d "$here/corpus/$name" ] && seeds=("$here/corpus/$name")
	echo "fuzz: $name for ${seconds}s"
	"$bin" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$build/fuzz/$name-" "$corpus" "${seeds[@]}" \
		2>"$build/fuzz/$name.log" || { tail -50 "$build/fuzz/$name.log" >&2; exit 1; }
	grep -E '^stat::number_of_executed_units' "$build/fuzz/$name.log" || true
done
