#!/bin/sh
# An interpreter that runs but is not Python: exits 0 without a probe line.
echo "Hello from a wrapper script"
