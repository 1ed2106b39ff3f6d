#!/usr/bin/env bash
# Runs test programs one after another and prints one line per program, then exactly
# one closing line "N passed, N failed" (test cases; exit status 0 only when 0 failed).
#
#   tests/run-tests.sh build/asan/tests/test_config build/asan/tests/test_harness ...
#
# A program is a cmocka test (its "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)"
# lines are counted) or any program that exits 0 for success. A program that crashes,
# exits non-zero without a cmocka count, or outlives TEST_TIMEOUT seconds (default 600)
# counts as at least one failed test. Each program's output goes to
# $TEST_LOG_DIR/<name>.log (default build/test-logs).
set -u

timeout_s=${TEST_TIMEOUT:-600}
log_dir=${TEST_LOG_DIR:-build/test-logs}
tail_lines=${TEST_TAIL_LINES:-40}

case $timeout_s in
    '' | *[!0-9]*) echo "run-tests: TEST_TIMEOUT must be a number of seconds, not '$timeout_s'" >&2
                   exit 2 ;;
esac
if ! mkdir -p "$log_dir"; then
    echo "run-tests: cannot create $log_dir" >&2
    exit 2
fi

total_passed=0
total_failed=0

# Sums the N of every line "[  <word>  ] N test(s)" in a log (cmocka prints one per group).
count_cmocka() {
    local word=$1 file=$2
    sed -n "s/^\[ *$word *\] \([0-9][0-9]*\) test(s).*/\1/p" "$file" | awk '{ s += $1 } END { print s + 0 }'
}

now() { date +%s.%N; }

for prog in "$@"; do
    name=$(basename -- "$prog")
    log="$log_dir/$name.log"
    start=$(now)
    if [ ! -x "$prog" ] || [ -d "$prog" ]; then
        echo "run-tests: $prog is not an executable file" > "$log"
        status=127
    else
        # --kill-after: a test that ignores SIGTERM still ends; -k needs coreutils timeout.
        # The braces keep bash's own "Segmentation fault" notice out of the summary.
        { timeout --kill-after=10 "$timeout_s" "$prog" > "$log" 2>&1 < /dev/null; } 2> /dev/null
        status=$?
    fi
    elapsed=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')

    passed=$(count_cmocka PASSED "$log")
    failed=$(count_cmocka FAILED "$log")
    skipped=$(count_cmocka SKIPPED "$log")
    has_count=$(grep -c '^\[ *\(PASSED\|FAILED\) *\] [0-9]* test(s)' "$log")

    why=""
    timed_out=$(awk -v e="$elapsed" -v t="$timeout_s" 'BEGIN { print (t > 0 && e >= t) }')
    if [ "$status" -eq 124 ] || { [ "$status" -eq 137 ] && [ "$timed_out" -eq 1 ]; }; then
        why="timed out after ${timeout_s} s"
    elif [ "$status" -eq 127 ] && [ ! -x "$prog" ]; then
        why="not found or not executable"
    elif [ "$status" -gt 128 ]; then
        why="killed by signal $((status - 128))"
    elif [ "$status" -ne 0 ]; then
        why="exit status $status"
    fi

    if [ "$has_count" -eq 0 ]; then
        # Not cmocka (or died before its summary): the program itself is the one test.
        if [ "$status" -eq 0 ]; then passed=1; else failed=1; fi
    elif [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
        # All cases passed yet the program failed: a sanitizer report, a crash at exit.
        failed=1
    fi

    cases=$((passed + failed))
    extra=""
    [ "$skipped" -gt 0 ] && extra=", $skipped skipped"
    if [ "$failed" -eq 0 ] && [ "$status" -eq 0 ]; then
        printf 'ok   %-28s (%d test%s%s, %s s)\n' "$name" "$cases" "$([ "$cases" -eq 1 ] || echo s)" "$extra" "$elapsed"
    else
        printf 'FAIL %-28s (%d of %d test%s failed%s, %s s%s)  log: %s\n' "$name" "$failed" "$cases" \
            "$([ "$cases" -eq 1 ] || echo s)" "$extra" "$elapsed" "${why:+, $why}" "$log"
        tail -n "$tail_lines" "$log" | sed 's/^/    | /'
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
done

echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
