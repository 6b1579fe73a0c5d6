#!/usr/bin/env bash
# test-model-files.sh — attnscope-cli while its model's files change, TAP
# output. Usage: test-model-files.sh CLI
#
# A model folder may sit on a share or be re-downloaded while a long `stats`
# run uses it. Once the model is loaded, its model.safetensors is cut to 1000
# bytes, or has NaN written over its weights in place; the run must finish
# normally (exit 0, no signal) with the same statistics as an undisturbed run:
# the weights were read, and checked, before.
#
# `stats` says "N lines from CORPUS" on stderr once the model is loaded and
# before the first line is analysed. The run is stopped (SIGSTOP) on that
# line, the file changed, and the run continued, so no timing is involved:
# the test means the same on a slow sanitizer build and a fast machine.
set -u
cli=$1
here=$(cd "$(dirname "$0")" && pwd)
corpus="$here/../data/corpus/doc-sentences.txt"
model=${ATTNSCOPE_MODEL_DIR:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/tap.sh"

limit=40

if [ ! -f "$model/model.safetensors" ] || [ ! -f "$corpus" ]; then
  echo "1..2"
  skip "model.safetensors cut while stats runs" "the default model is not downloaded (tools/setup)"
  skip "model.safetensors rewritten with NaN while stats runs" "the default model is not downloaded (tools/setup)"
  exit 0
fi
echo "1..2"
head -n $limit "$corpus" >"$tmp/corpus.txt"

"$cli" stats --device cpu --corpus "$tmp/corpus.txt" -m "$model" -o "$tmp/reference.csv" 2>"$tmp/reference.err"
if [ $? != 0 ]; then
  nok "undisturbed stats run" "$(cat "$tmp/reference.err")"
  exit 0
fi

# The state letter of process PID (R, S, T, Z…), from /proc/PID/stat.
state() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo gone; return; }
  stat=${stat##*) }
  echo "${stat%% *}"
}

# disturbed NAME ACTION: runs stats on a copy of the model and, once it is
# loaded, runs ACTION on the copy's model.safetensors.
disturbed() {
  local name=$1 action=$2 copy="$tmp/copy"
  rm -rf "$copy" "$tmp/errpipe"
  mkdir "$copy"
  cp "$model/config.json" "$model/model.safetensors" "$copy/"
  for f in tokenizer.json vocab.txt tokenizer_config.json; do
    [ -f "$model/$f" ] && cp "$model/$f" "$copy/"
  done
  rm -f "$tmp/out.csv" "$tmp/err"
  mkfifo "$tmp/errpipe"
  "$cli" stats --device cpu --corpus "$tmp/corpus.txt" -m "$copy" -o "$tmp/out.csv" 2>"$tmp/errpipe" &
  local pid=$! changed="" line
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$tmp/err"
    if [ -z "$changed" ] && [[ $line == *" lines from "* ]]; then
      kill -STOP $pid 2>/dev/null
      # The stop lands asynchronously: wait for it (or for the end).
      local tries=0 now
      until now=$(state $pid); [ "$now" = T ] || [ "$now" = Z ] || [ "$now" = gone ] || [ $tries -ge 500 ]; do
        sleep 0.01
        tries=$((tries+1))
      done
      changed="while $now"
      $action "$copy/model.safetensors"
      kill -CONT $pid 2>/dev/null
    fi
  done <"$tmp/errpipe"
  wait $pid
  local status=$?
  local problem=""
  case "$changed" in
    "while T") ;;
    "") problem="the model never loaded (no \"lines from\" on stderr). " ;;
    *) problem="the run was not stopped before the file was changed ($changed). " ;;
  esac
  if [ $status != 0 ]; then
    problem="${problem}exit status $status"
    [ $status -gt 128 ] && problem="$problem (signal $((status-128)))"
  elif ! cmp -s "$tmp/reference.csv" "$tmp/out.csv"; then
    problem="${problem}statistics differ from the undisturbed run: $(diff "$tmp/reference.csv" "$tmp/out.csv" | head -5)"
  fi
  if [ -z "$problem" ]; then ok "$name: exit 0, same statistics"
  else nok "$name" "$problem
$(cat "$tmp/err")"; fi
}

cut_short() { truncate -s 1000 "$1"; }

# NaN over every weight of the data section but the first 4 KiB after the
# header, in place (same inode, as a writer that rewrites a file does).
nan_in_place() {
  python3 - "$1" <<'PY'
import struct, sys
path = sys.argv[1]
with open(path, "r+b") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    f.seek(0, 2)
    end = f.tell()
    start = 8 + n + 4096
    start -= start % 4
    f.seek(start)
    f.write(struct.pack("<f", float("nan")) * ((end - start) // 4))
PY
}

disturbed "model.safetensors cut to 1000 bytes while stats runs" cut_short
disturbed "model.safetensors rewritten with NaN while stats runs" nan_in_place
