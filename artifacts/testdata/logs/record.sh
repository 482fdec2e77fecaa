#!/usr/bin/env bash
# Records the failed-step logs that artifacts.FailureCause is tested on, from real runs: real pip
# (offline, so it fails the way it fails on an instance without an index) and the bundled
# fixture's training script. Run from the repository root:
#
#   artifacts/testdata/logs/record.sh
#
# Needs /usr/bin/python3 with Debian's python3-pip (the PEP 668 refusal) and a pip in a
# virtual-environment-like Python (PIP_PYTHON, default `python`) for the index failure.
# Paths of the temporary workspace are replaced by @WS@ so the recordings do not change per run.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
ws=$(mktemp -d)
trap 'rm -rf "$ws"' EXIT
cp -r "$root/testdata/difftrain" "$ws/difftrain"
mkdir -p "$ws/extras"
for m in datasets diffusers torchvision transformers; do mkdir -p "$ws/extras/$m" && : >"$ws/extras/$m/__init__.py"; done
record() { # name command...
  local name=$1; shift
  local status=0
  (cd "$ws" && "$@") >"$ws/out.log" 2>&1 || status=$?
  sed "s#$ws#@WS@#g" "$ws/out.log" >"$here/$name.log"
  echo "$name.log: exit $status"
}
export PYTHONDONTWRITEBYTECODE=1
record pip-no-index "${PIP_PYTHON:-python}" -m pip install --no-index --no-cache-dir -e "./difftrain[text2image]"
record pip-externally-managed /usr/bin/python3 -m pip install -e "./difftrain[text2image]"
record missing-extras /usr/bin/python3 ./difftrain/scripts/train_text_to_image.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run
(cd "$ws" && /usr/bin/python3 ./difftrain/scripts/make_dummy_imagefolder.py --output-dir ./data/smoke_text2image >/dev/null)
for kind in oom cuda nccl; do
  FIXTURE_CRASH=$kind PYTHONPATH="$ws/extras" record "cuda-$kind" /usr/bin/python3 ./difftrain/scripts/train_text_to_image.py \
    --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run
done
# Passing training runs, for the step lines (artifacts.StepLosses): real Python logging, with the
# fixture's tiny model on this machine's torch, and with each step slowed by 0.3 s (FIXTURE_SLOW_STEP).
PYTHONPATH="$ws/extras" record train-pass /usr/bin/python3 ./difftrain/scripts/train_text_to_image.py \
  --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run
FIXTURE_SLOW_STEP=0.3 PYTHONPATH="$ws/extras" record train-slow /usr/bin/python3 ./difftrain/scripts/train_text_to_image.py \
  --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run_slow
