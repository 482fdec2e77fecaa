#!/bin/sh
set -e
cd /home/ubuntu/work
