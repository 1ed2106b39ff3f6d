#!/usr/bin/env bash
# Runs the libFuzzer targets built by tests/fuzz/fuzz.mk, one after another.
#
#   tests/fuzz/run-fuzz.sh --seconds 60 [TARGET...]     what `make fuzz` runs
#   tests/fuzz/run-fuzz.sh --smoke --seconds 10 [TARGET...]   what `make test` runs
#
# TARGET is fuzz_config, fuzz_pgoutput, fuzz_event, fuzz_http or fuzz_binlog (default: all
# of them); its seed corpus is tests/fuzz/corpus/<TARGET without "fuzz_">/ and is only
# ever read.
#   fuzz mode:  fuzzes on build/fuzz/corpus/<TARGET>/, a copy of the seeds that keeps what
#               earlier runs found;
#   smoke mode: runs every seed file on its own, then fuzzes a fresh copy of the seeds.
# New crash, leak, timeout and out-of-memory inputs land in build/fuzz/crashes/<TARGET>/;
# the run fails naming them. Logs: build/fuzz/logs/<TARGET>.log. Ends with cmocka's
# "[  PASSED  ] N test(s)." (and "[  FAILED  ] N test(s)") lines, one test per target,
# which tests/run-tests.sh counts; exit status 0 only when every target passed.
#
# Environment: FUZZ_DIR (default build/fuzz), FUZZ_SEED (libFuzzer -seed, default random),
# FUZZ_TIMEOUT (seconds one input may take, default 25), FUZZ_STRICT=1 (harnesses stop
# stepping around known product bugs; see fuzz_event.c).
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 2

smoke=0
seconds=60
targets=()
while [ $# -gt 0 ]; do
    case $1 in
        --smoke) smoke=1 ;;
        --seconds) shift; seconds=${1:-} ;;
        -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "run-fuzz: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1") ;;
    esac
    shift
done
case $seconds in
    '' | *[!0-9]*) echo "run-fuzz: --seconds needs a whole number of seconds" >&2; exit 2 ;;
esac
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_config fuzz_pgoutput fuzz_event fuzz_http fuzz_binlog)

fuzz_dir=${FUZZ_DIR:-build/fuzz}
timeout_s=${FUZZ_TIMEOUT:-25}
seed_opt=()
[ -n "${FUZZ_SEED:-}" ] && seed_opt=("-seed=$FUZZ_SEED")
mkdir -p "$fuzz_dir/logs" || exit 2

passed=0
failed=()

# "#123456 DONE cov: 812 ft: 2345 corp: 300/40Kb ..." → "123456 runs, cov 812, ft 2345, corpus 300"
summary() {
    local log=$1
    local done_line execs
    done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)' "$log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    [ -z "$execs" ] && execs=$(printf '%s\n' "$done_line" | sed -n 's/^#\([0-9]*\).*/\1/p')
    printf '%s runs, cov %s, ft %s, corpus %s' "${execs:-?}" \
        "$(printf '%s\n' "$done_line" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')" \
        "$(printf '%s\n' "$done_line" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')" \
        "$(printf '%s\n' "$done_line" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')"
}

for t in "${targets[@]}"; do
    bin=$fuzz_dir/$t
    seeds=tests/fuzz/corpus/${t#fuzz_}
    log=$fuzz_dir/logs/$t.log
    crashes=$fuzz_dir/crashes/$t
    if [ ! -x "$bin" ]; then
        echo "FAIL $t: $bin is not built (make fuzz-build)"
        failed+=("$t")
        continue
    fi
    if [ ! -d "$seeds" ]; then
        echo "FAIL $t: no seed corpus $seeds"
        failed+=("$t")
        continue
    fi
    mkdir -p "$crashes"
    marker=$(mktemp "$fuzz_dir/.start.XXXXXX")
    : > "$log"
    status=0
    why=""

    if [ "$smoke" -eq 1 ]; then
        # every seed on its own: a seed that crashes is named, not hidden in a corpus run
        mapfile -t files < <(find "$seeds" -maxdepth 1 -type f | sort)
        if [ ${#files[@]} -gt 0 ]; then
            echo "== $t: ${#files[@]} seed(s) one by one" >> "$log"
            "$bin" -timeout="$timeout_s" "${files[@]}" >> "$log" 2>&1
            status=$?
            [ "$status" -ne 0 ] && why="a seed input failed (exit $status): $(grep -E '^Running: ' "$log" | tail -n 1 | sed 's/^Running: //')"
        fi
        work=$fuzz_dir/smoke/$t
        rm -rf "$work"
    else
        work=$fuzz_dir/corpus/$t
    fi

    if [ "$status" -eq 0 ]; then
        mkdir -p "$work"
        # a copy of the seeds: libFuzzer writes what it finds into $work only
        find "$seeds" -maxdepth 1 -type f -exec cp -n -t "$work" {} +
        before=$(find "$work" -type f | wc -l)
        echo "== $t: fuzzing $seconds s on $work" >> "$log"
        "$bin" -max_total_time="$seconds" -timeout="$timeout_s" -print_final_stats=1 \
            -artifact_prefix="$crashes/" "${seed_opt[@]}" "$work" >> "$log" 2>&1
        status=$?
        after=$(find "$work" -type f | wc -l)
        [ "$status" -ne 0 ] && why="libFuzzer exit status $status"
    fi

    mapfile -t found < <(find "$crashes" -type f -newer "$marker" \
        \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
    rm -f "$marker"
    if [ "$status" -eq 0 ] && [ ${#found[@]} -eq 0 ]; then
        echo "ok   $t: $(summary "$log"), +$((after - before)) new input(s) (log: $log)"
        passed=$((passed + 1))
    else
        echo "FAIL $t: ${why:-new crash input(s)} (log: $log)"
        for f in "${found[@]}"; do
            echo "     crash input: $f   (replay: $bin $f)"
        done
        grep -E '^(==[0-9]+==ERROR|SUMMARY:|.*runtime error:|fuzz_[a-z]+: )' "$log" | head -n 8 | sed 's/^/     | /'
        failed+=("$t")
    fi
done

[ "$passed" -gt 0 ] && echo "[  PASSED  ] $passed test(s)."
if [ ${#failed[@]} -gt 0 ]; then
    echo "[  FAILED  ] ${#failed[@]} test(s), listed below:"
    for t in "${failed[@]}"; do echo "[  FAILED  ] $t"; done
    exit 1
fi
exit 0
