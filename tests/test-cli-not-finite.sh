#!/usr/bin/env bash
# test-cli-not-finite.sh — a model whose attention overflows to NaN is
# refused by every command that runs it: exit 1, a message naming the first
# bad layer and head, and no output file. TAP. Usage: test-cli-not-finite.sh CLI
set -u
cli=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/tap.sh"

if [ ! -f "${ATTNSCOPE_MODEL_DIR:-}/model.safetensors" ]; then
  echo "1..0 # SKIP default model not downloaded (run tools/setup)"
  exit 0
fi
python3 "$here/make-overflow-model.py" "$ATTNSCOPE_MODEL_DIR" "$tmp/model" 2 || { echo "Bail out! cannot make the model"; exit 1; }
mkdir "$tmp/out"
printf 'It was too tired.\nThe cat sat.\n' >"$tmp/corpus.txt"

# Each command must fail naming layer 2 (the scaled one).
check () {
  local what=$1; shift
  local err rc
  err=$("$cli" "$@" 2>&1 >/dev/null); rc=$?
  if [ $rc = 1 ] && grep -q 'layer 2, head [0-9]*: the attention is not finite' <<<"$err" &&
     [ -z "$(ls -A "$tmp/out")" ]; then
    ok "$what: exit 1, names layer 2, leaves no file"
  else
    nok "$what: exit 1, names layer 2, leaves no file" "rc=$rc $err $(ls -A "$tmp/out")"
  fi
  rm -rf "$tmp/out"; mkdir "$tmp/out"
}
check "dump json" dump -m "$tmp/model" --format json -o "$tmp/out/a.json" "It was too tired."
check "dump npy" dump -m "$tmp/model" --format npy -o "$tmp/out/a.npy" "It was too tired."
check "export png" export -m "$tmp/model" --view head -o "$tmp/out/a.png" "It was too tired."
check "stats" stats -m "$tmp/model" --corpus "$tmp/corpus.txt" -o "$tmp/out/s.csv"

# The same model with the weights untouched still works (the check is not a
# false alarm on a healthy model).
if "$cli" dump -m "$ATTNSCOPE_MODEL_DIR" --format json -o "$tmp/out/ok.json" "It was too tired." 2>/dev/null &&
   [ -s "$tmp/out/ok.json" ]; then
  ok "a healthy model still dumps"
else
  nok "a healthy model still dumps"
fi
echo "1..$n"
