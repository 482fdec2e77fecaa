#!/bin/sh
# An interpreter stuck in CUDA initialisation.
sleep 30
