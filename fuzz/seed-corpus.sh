#!/usr/bin/env bash
# Fills corpus/{scenario,history,final_state}/ (not committed) with seed inputs: the
# repo's scenario files, the test histories and final states, the regression corpus,
# a few histories and final states written by `repsim run`, and a few of the
# linearizability histories in ../../shared/testdata. Run from anywhere; needs a built
# `repsim` (REPSIM=path/to/repsim, default ../target/release/repsim).
set -euo pipefail
cd "$(dirname "$0")"
repo=..
repsim=${REPSIM:-$repo/target/release/repsim}
mkdir -p corpus/scenario corpus/history corpus/final_state
n=0
while IFS= read -r -d '' f; do
  n=$((n + 1)); cp "$f" "corpus/scenario/seed-$n.json"
done < <(find "$repo/scenarios" "$repo/crates/runner/tests/scenarios" \
  "$repo/crates/runner/tests/fuzz_corpus/scenario" -type f -print0 2>/dev/null)
for f in "$repo"/crates/runner/tests/histories/*.jsonl \
  "$repo"/crates/runner/tests/fuzz_corpus/history/*; do
  [ -f "$f" ] && cp "$f" "corpus/history/$(basename "$f")"
done
for f in "$repo"/crates/runner/tests/histories/*.final.json \
  "$repo"/crates/runner/tests/fuzz_corpus/final_state/*; do
  [ -f "$f" ] && cp "$f" "corpus/final_state/$(basename "$f")"
done
# A history and its final state in one input: the history target splits at the NUL.
{ cat "$repo/crates/runner/tests/histories/stale.jsonl"; printf '\0';
  cat "$repo/crates/runner/tests/histories/stale.final.json"; } > corpus/history/stale-with-final
tmp=$(mktemp -d)
for s in single-node/crash-restart single-leader/async-failover-loses-writes \
  multi-leader/merge-keeps-every-write leaderless/version-vectors-keep-siblings \
  single-leader/split-brain-without-fencing; do
  file="$repo/scenarios/$s.json"
  [ -f "$file" ] || continue
  name=$(basename "$s")
  "$repsim" run "$file" --out "$tmp/$name" > /dev/null || true
  # Keep the seeds small: the first 60 lines of each history.
  head -n 60 "$tmp/$name/history.jsonl" > "corpus/history/run-$name.jsonl"
  cp "$tmp/$name/final.json" "corpus/final_state/run-$name.json"
  { cat "corpus/history/run-$name.jsonl"; printf '\0'; cat "$tmp/$name/final.json"; } \
    > "corpus/history/run-$name-with-final"
done
rm -rf "$tmp"
testdata="$repo/../shared/testdata/linearizability"
for f in knossos/cas-failure knossos/cas-register-bug knossos/immediate-failure \
  porcupine/etcd_000 porcupine/etcd_001; do
  [ -f "$testdata/$f.jsonl" ] && head -n 80 "$testdata/$f.jsonl" > "corpus/history/lin-$(basename "$f").jsonl"
done
for t in scenario history final_state; do echo "$t: $(ls corpus/$t | wc -l) seeds"; done
