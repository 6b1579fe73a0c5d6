#!/bin/sh
# run-at-isa.sh PROBE LEVEL PROGRAM [ARG...] — a TAP suite with the fast
# CPU path's kernels forced to LEVEL (ATTNSCOPE_ISA); where this machine
# cannot run them, the whole suite is one skip that says why (PROBE is
# isa-probe).
probe=$1
level=$2
shift 2
if ! why=$("$probe" "$level"); then
  echo "1..0 # SKIP $why"
  exit 0
fi
ATTNSCOPE_ISA=$level
export ATTNSCOPE_ISA
exec "$@"
