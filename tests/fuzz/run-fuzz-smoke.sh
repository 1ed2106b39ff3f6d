#!/usr/bin/env bash
# The fuzz targets' smoke test for `make test` (tests/run-tests.sh calls it with no
# arguments): every seed of every target, then FUZZ_SMOKE_SECONDS (default 10) of fuzzing
# each. Needs `make fuzz-build` first. See run-fuzz.sh.
exec "$(dirname "$0")/run-fuzz.sh" --smoke --seconds "${FUZZ_SMOKE_SECONDS:-10}" "$@"
