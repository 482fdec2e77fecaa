#!/usr/bin/env bash
# Reruns a failed smoke-test step with the environment it ran with (secrets redacted).
set -euo pipefail
cd /runs/interrupted/workspace
export PYTHONPATH=/runs/interrupted/workspace/standins:/runs/interrupted/workspace/difftrain/src
export PYTHONUNBUFFERED=1
export FIXTURE_HANG=train_text_to_image
export PYTHONDONTWRITEBYTECODE=1
export PATH=/usr/local/go/bin:/usr/local/go/bin:/root/go/bin:/root/.cargo/bin:/root/.cargo/bin:/root/.pyenv/plugins/pyenv-virtualenv/shims:/root/.pyenv/shims:/root/.pyenv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
exec /root/.pyenv/shims/python ./difftrain/scripts/train_text_to_image.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run
