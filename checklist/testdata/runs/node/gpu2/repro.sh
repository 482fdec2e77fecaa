#!/usr/bin/env bash
# Reruns a failed smoke-test step with the environment it ran with (repro.env; secrets redacted).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secrets=()
# Entries whose names bash cannot set (exported functions), passed on as they were.
passed=()
cd /runs/node/workspace/gpusmoke-gpus/gpu2
exec env -i "${secrets[@]}" "${passed[@]}" bash --noprofile --norc -c 'set -a; . "$1"; set +a; shift; exec "$@"' repro "$here/repro.env" /root/.pyenv/shims/python ./difftrain/scripts/make_dummy_imagefolder.py --output-dir ./data/smoke_text2image --num-images 4 --image-size 64
