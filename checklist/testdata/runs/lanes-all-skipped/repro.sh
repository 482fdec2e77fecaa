#!/usr/bin/env bash
# Reruns a failed smoke-test step with the environment it ran with (repro.env; secrets redacted).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secrets=()
# Entries whose names bash cannot set (exported functions), passed on as they were.
passed=()
cd /runs/lanes-all-skipped/workspace
exec env -i "${secrets[@]}" "${passed[@]}" bash --noprofile --norc -c 'set -a; . "$1"; set +a; shift; exec "$@"' repro "$here/repro.env" /usr/bin/python3 -m pytest ./difftrain/tests -m 'slow and cuda and text2image' -v --run-slow --run-integration --junitxml /runs/lanes-all-skipped/pytest/03-gpu-lane.xml --basetemp /runs/lanes-all-skipped/workspace/gpusmoke-pytest/03-gpu-lane -p no:cacheprovider
