#!/usr/bin/env bash
# Runs every fuzz target, one after the other (fuzzing takes a whole core), for SECONDS each
# (default 600), starting from the committed seeds. Logs go to fuzz/logs/<target>.log; the
# last lines of each say how many inputs ran and whether anything was found.
#
#   fuzz/run-all.sh            # 10 minutes each
#   fuzz/run-all.sh 60         # a quick pass
#   fuzz/run-all.sh 600 config # one target
set -u
cd "$(dirname "$0")"
seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(mautic_answers weavy_answers config store_codec)
fi
mkdir -p logs
# cargo-fuzz passes -Z flags to rustc: the stable toolchain takes them with RUSTC_BOOTSTRAP=1.
export RUSTC_BOOTSTRAP=1
cargo fuzz build || exit 1
status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    echo "== $t: ${seconds}s, started $(date -u +%FT%TZ)"
    start=$(date +%s)
    cargo fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"logs/$t.log" 2>&1
    rc=$?
    end=$(date +%s)
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "logs/$t.log" | grep -Eo '[0-9]+$')
    echo "== $t: exit $rc after $((end - start))s, ${runs:-?} inputs run"
    [ $rc -eq 0 ] || status=$rc
done
exit $status
