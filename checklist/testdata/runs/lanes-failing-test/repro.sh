#!/usr/bin/env bash
# Reruns a failed smoke-test step with the environment it ran with (repro.env; secrets redacted).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secrets=()
# Entries whose names bash cannot set (exported functions), passed on as they were.
passed=()
cd /runs/lanes-failing-test/workspace
exec env -i "${secrets[@]}" "${passed[@]}" bash --noprofile --norc -c 'set -a; . "$1"; set +a; shift; exec "$@"' repro "$here/repro.env" /usr/bin/python3 -m pytest ./difftrain/tests -m 'not slow and not integration' -v --junitxml /runs/lanes-failing-test/pytest/02-unit-lane.xml --basetemp /runs/lanes-failing-test/workspace/gpusmoke-pytest/02-unit-lane -p no:cacheprovider
