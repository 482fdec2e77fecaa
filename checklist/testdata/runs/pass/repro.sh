#!/bin/sh
set -e
cd /workspace
