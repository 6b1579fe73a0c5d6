#!/usr/bin/env bash
# test-cli-signals.sh — an interrupted attnscope-cli leaves no temporary
# file and the target as it was, TAP output. Usage: test-cli-signals.sh CLI
#
# Each run is caught while its output is open (the dumps mid-write), then
# sent SIGINT or SIGTERM; it must die of that signal and leave the folder
# holding only the old target, unchanged. Both kinds of temporary are
# covered: the unnamed one (O_TMPFILE, the default) and the named one used
# where a file system lacks O_TMPFILE (forced with
# ATTNSCOPE_OUTPUT_NAMED_TEMP=1), which a signal handler removes.
set -u
cli=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/tap.sh"

if [ ! -f "${ATTNSCOPE_MODEL_DIR:-}/model.safetensors" ]; then
  echo "1..0 # SKIP default model not downloaded"
  exit 0
fi
if ! env --default-signal=INT true 2>/dev/null; then
  echo "1..0 # SKIP env --default-signal is missing (coreutils < 8.31)"
  exit 0
fi
export OPENBLAS_NUM_THREADS=1   # slower, so the runs are easy to catch
python3 -c "print('word ' * 600)" >"$tmp/512.txt"
corpus=$(dirname "$0")/../data/corpus/doc-sentences.txt
if [ ! -f "$corpus" ]; then
  corpus=$tmp/corpus.txt
  python3 -c "print('The cat sat on the mat.\n' * 400)" >"$corpus"
fi

# Size of the first file PID has open in DIR, or nothing.
open_size() {
  local f
  for f in /proc/"$1"/fd/*; do
    case $(readlink "$f" 2>/dev/null) in
      "$2"/*) stat -L -c %s "$f" 2>/dev/null; return ;;
    esac
  done
}

# interrupt NAME SIGNAL NAMED MIN_BYTES TARGET COMMAND…: runs COMMAND in the
# background (with SIGINT at its default: a background job of a script
# would ignore it), waits until it has TARGET's temporary open with at least
# MIN_BYTES written, sends SIGNAL, and checks what is left.
interrupt() {
  local name=$1 sig=$2 named=$3 min=$4 target=$5; shift 5
  local dir
  dir=$(dirname "$target")
  rm -rf "$dir"; mkdir -p "$dir"
  echo "old content" >"$target"
  ATTNSCOPE_OUTPUT_NAMED_TEMP=$named env --default-signal=INT,TERM "$@" >/dev/null 2>"$tmp/err" &
  local pid=$! size="" _
  for _ in $(seq 1500); do
    size=$(open_size $pid "$dir")
    [ -n "$size" ] && [ "$size" -ge "$min" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.01
  done
  kill -"$sig" $pid 2>/dev/null
  wait $pid
  local rc=$? expect
  expect=$((128 + $(kill -l "$sig")))
  local left
  left=$(ls -A "$dir")
  if [ -z "$size" ] || [ "$size" -lt "$min" ]; then
    nok "$name: not caught while writing (exit $rc)" "$(cat "$tmp/err")"
  elif [ $rc = "$expect" ] && [ "$left" = "$(basename "$target")" ] &&
       [ "$(cat "$target")" = "old content" ]; then
    ok "$name: SIG$sig at $size bytes written, nothing left but the old target"
  else nok "$name: SIG$sig at $size bytes" "exit $rc (expected $expect); left: $left; $(cat "$tmp/err")"; fi
}

for named in 0 1; do
  kind=$([ $named = 1 ] && echo "named temporary" || echo "unnamed temporary")
  interrupt "dump --format json, 512 tokens ($kind)" INT $named 1000000 "$tmp/d/a.json" \
    "$cli" dump --device cpu --format json --text-file "$tmp/512.txt" -o "$tmp/d/a.json"
  interrupt "dump --format json, 512 tokens ($kind)" TERM $named 1000000 "$tmp/d/a.json" \
    "$cli" dump --device cpu --format json --text-file "$tmp/512.txt" -o "$tmp/d/a.json"
  interrupt "dump --format npy, 512 tokens ($kind)" TERM $named 1 "$tmp/n/a.npy" \
    "$cli" dump --device cpu --format npy --text-file "$tmp/512.txt" -o "$tmp/n/a.npy"
  interrupt "stats over the corpus ($kind)" INT $named 0 "$tmp/s/stats.csv" \
    "$cli" stats --device cpu --corpus "$corpus" -o "$tmp/s/stats.csv"
  if "$cli" export --help 2>/dev/null | grep -q -- --view; then
    interrupt "export SVG, 512 tokens ($kind)" INT $named 0 "$tmp/e/grid.svg" \
      "$cli" export --device cpu --view grid --text-file "$tmp/512.txt" -o "$tmp/e/grid.svg"
  fi
done

echo "1..$n"
exit $((fails > 0))
