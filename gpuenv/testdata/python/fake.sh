#!/bin/sh
# Stands in for python: ignores its arguments (-c <probe script>) and prints the canned probe
# result from probe.json next to it, with the chatter a real interpreter may print around it.
echo "import-time chatter on stdout"
echo "UserWarning: a warning on stderr" >&2
printf 'GPUENV_PROBE '
tr -d '\n' < "$(dirname "$0")/probe.json"
echo
