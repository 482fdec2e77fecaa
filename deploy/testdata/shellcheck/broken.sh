#!/usr/bin/env bash
# Broken: an unquoted expansion that word-splits (SC2086).
set -euo pipefail
dir=$1
rm -rf $dir/cache
