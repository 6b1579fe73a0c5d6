#!/usr/bin/env bash
# test-cli-output.sh — where attnscope-cli's -o writes, TAP output.
# Usage: test-cli-output.sh CLI
#
# Devices and FIFOs are written in place (never replaced by a file), write
# errors name the path and errno's text, symlinks are written through,
# directories and the loaded model's own files are refused, and a bad output
# fails before the long work starts. Tests run as root in CI, where /dev is
# writable: the device cases use nodes made under the test's own folder
# (mknod) where that is allowed, so a regression cannot damage the machine.
set -u
cli=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/tap.sh"

model=${ATTNSCOPE_MODEL_DIR:-}
if [ ! -f "$model/model.safetensors" ]; then
  echo "1..0 # SKIP default model not downloaded"
  exit 0
fi
is_json() { python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$1" 2>/dev/null; }

# 1-2. character devices are written in place: /dev/null-like accepts, a
# /dev/full-like fails with ENOSPC; the node stays a node.
if mknod "$tmp/null" c 1 3 2>/dev/null && mknod "$tmp/full" c 1 7 2>/dev/null; then
  nul="$tmp/null"; full="$tmp/full"
elif [ "$(id -u)" != 0 ]; then
  nul=/dev/null; full=/dev/full   # not root: /dev cannot be replaced anyway
else nul=""; full=""; fi
if [ -n "$nul" ]; then
  "$cli" dump -o "$nul" "hi" >/dev/null 2>"$tmp/err"; rc=$?
  if [ $rc = 0 ] && [ -c "$nul" ]; then ok "-o $nul (a null device): written in place, still a device"
  else nok "-o null device" "rc=$rc; $(ls -l "$nul"; cat "$tmp/err")"; fi
  "$cli" dump -o "$full" "hi" >/dev/null 2>"$tmp/err"; rc=$?
  if [ $rc = 1 ] && [ -c "$full" ] &&
     grep -qx "attnscope-cli: error: cannot write $full: No space left on device" "$tmp/err"; then
    ok "-o $full (a full device): exit 1, 'No space left on device', still a device"
  else nok "-o full device" "rc=$rc; $(ls -l "$full"; cat "$tmp/err")"; fi
else
  skip "-o null device" "mknod not allowed here (root without CAP_MKNOD)"
  skip "-o full device" "mknod not allowed here (root without CAP_MKNOD)"
fi

# 3. a write error mid-way through a long dump is reported as the write
# error ("cannot write …/full: No space left on device"), not as a stopped
# computation.
long=$(python3 -c "print('word ' * 600)")
if [ -n "$full" ]; then
  "$cli" dump -o "$full" "$long" >/dev/null 2>"$tmp/err"; rc=$?
  if [ $rc = 1 ] && grep -qx "attnscope-cli: error: cannot write $full: No space left on device" "$tmp/err" &&
     ! grep -q "stopped" "$tmp/err" && [ -c "$full" ]; then
    ok "dump of 512 tokens -o $full: exit 1, 'No space left on device', not 'stopped'"
  else nok "dump of 512 tokens -o full device" "rc=$rc; $(cat "$tmp/err")"; fi
else skip "dump -o full device mid-way" "mknod not allowed here"; fi

# 4. tokenize's own output is checked too: a write error is one.
"$cli" tokenize "hi" >/dev/full 2>"$tmp/err"; rc=$?
if [ $rc = 1 ] && grep -q "cannot write standard output: No space left on device" "$tmp/err"; then
  ok "tokenize > /dev/full: exit 1 naming the cause"
else nok "tokenize > /dev/full" "rc=$rc; $(cat "$tmp/err")"; fi

# 5-7. -o naming our own standard output delivers the data to it, whether it
# is a regular file, a pipe or an append; /dev/stdout stays a link.
stdout_link=$(readlink /dev/stdout)
"$cli" tokenize -o /dev/stdout "hi there" >"$tmp/o.txt" 2>"$tmp/err"; rc=$?
if [ $rc = 0 ] && grep -q "^3 tokens\|^4 tokens" "$tmp/o.txt" && [ -L /dev/stdout ]; then
  ok "-o /dev/stdout with stdout a regular file: the file gets the table"
else nok "-o /dev/stdout to a file" "rc=$rc; $(cat "$tmp/o.txt" "$tmp/err"; ls -l /dev/stdout)"; fi
# A regression would have replaced the link with a file: put it back.
[ -L /dev/stdout ] || { rm -f /dev/stdout; ln -s "${stdout_link:-/proc/self/fd/1}" /dev/stdout; }
lines=$("$cli" dump -o /dev/stdout "hi" 2>"$tmp/err" | python3 -c "import json,sys; print(len(json.load(sys.stdin)['tokens']))")
if [ "$lines" = 3 ] && [ -L /dev/stdout ]; then ok "-o /dev/stdout with stdout a pipe: the pipe gets the JSON"
else nok "-o /dev/stdout to a pipe" "got '$lines'; $(cat "$tmp/err")"; fi
[ -L /dev/stdout ] || { rm -f /dev/stdout; ln -s "${stdout_link:-/proc/self/fd/1}" /dev/stdout; }
echo "first line" >"$tmp/log.txt"
"$cli" tokenize -o /proc/self/fd/1 "hi" >>"$tmp/log.txt" 2>"$tmp/err"
if [ "$(head -1 "$tmp/log.txt")" = "first line" ] && grep -q "^3 tokens" "$tmp/log.txt"; then
  ok "-o /proc/self/fd/1 appended to: the earlier content stays"
else nok "-o /proc/self/fd/1 appending" "$(cat "$tmp/log.txt" "$tmp/err")"; fi

# 8. a FIFO is written in place and stays a FIFO.
mkfifo "$tmp/fifo"
python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['tokens']))" "$tmp/fifo" >"$tmp/fifo.out" 2>&1 &
reader=$!
"$cli" dump -o "$tmp/fifo" "hello world" 2>"$tmp/err"; rc=$?
wait $reader
if [ $rc = 0 ] && [ -p "$tmp/fifo" ] && [ "$(cat "$tmp/fifo.out")" = 4 ]; then
  ok "-o FIFO: the reader gets the JSON, the FIFO stays a FIFO"
else nok "-o FIFO" "rc=$rc; reader: $(cat "$tmp/fifo.out"); $(ls -l "$tmp/fifo"; cat "$tmp/err")"; fi

# 9. a symlink is written through: the target gets the data, the link stays.
mkdir "$tmp/real" "$tmp/links"
echo old >"$tmp/real/a.json"
ln -s ../real/a.json "$tmp/links/a.json"
"$cli" dump -o "$tmp/links/a.json" "hi" 2>"$tmp/err"; rc=$?
if [ $rc = 0 ] && [ -L "$tmp/links/a.json" ] && is_json "$tmp/real/a.json" &&
   [ "$(ls -A "$tmp/links")" = a.json ] && [ "$(ls -A "$tmp/real")" = a.json ]; then
  ok "-o symlink: written at its target, the link stays a link, no temporary left"
else nok "-o symlink" "rc=$rc; $(ls -la "$tmp/links" "$tmp/real"; cat "$tmp/err")"; fi

# 10. a dangling symlink creates its target.
ln -s ../real/new.json "$tmp/links/new.json"
if "$cli" dump -o "$tmp/links/new.json" "hi" 2>"$tmp/err" && [ -L "$tmp/links/new.json" ] &&
   is_json "$tmp/real/new.json"; then ok "-o dangling symlink: its target is created"
else nok "-o dangling symlink" "$(ls -la "$tmp/links" "$tmp/real"; cat "$tmp/err")"; fi

# 11. a symlink loop is reported as one.
ln -s loop "$tmp/loop"
"$cli" dump -o "$tmp/loop" "hi" 2>"$tmp/err"; rc=$?
if [ $rc = 1 ] && grep -q "cannot write $tmp/loop: Too many levels of symbolic links" "$tmp/err" &&
   [ -L "$tmp/loop" ]; then ok "-o symlink loop: exit 1, 'Too many levels of symbolic links'"
else nok "-o symlink loop" "rc=$rc; $(ls -l "$tmp/loop"; cat "$tmp/err")"; fi

# 12. a directory is refused.
mkdir "$tmp/dir"
"$cli" dump -o "$tmp/dir" "hi" 2>"$tmp/err"; rc=$?
if [ $rc = 1 ] && grep -q "cannot write $tmp/dir: Is a directory" "$tmp/err" && [ -d "$tmp/dir" ] &&
   [ -z "$(ls -A "$tmp/dir")" ]; then ok "-o directory: refused"
else nok "-o directory" "rc=$rc; $(cat "$tmp/err")"; fi

# 13-16. the loaded model's own files are refused by every command, whether
# the name is a symlink to the file or the file itself.
mkdir "$tmp/M"
for f in "$model"/*; do ln -s "$f" "$tmp/M/"; done
rm "$tmp/M/config.json"; cp "$model/config.json" "$tmp/M/config.json"
before=$(cksum <"$model/model.safetensors")
check_refused() { # NAME FILE COMMAND…
  local name=$1 file=$2; shift 2
  "$@" >/dev/null 2>"$tmp/err"; local rc=$?
  if [ $rc = 1 ] && grep -q "cannot write $file: it would replace the loaded model's file" "$tmp/err"; then
    ok "$name: refused"
  else nok "$name" "rc=$rc; $(cat "$tmp/err")"; fi
}
check_refused "dump -o M/model.safetensors (a link to the weights)" "$tmp/M/model.safetensors" \
  "$cli" dump -m "$tmp/M" -o "$tmp/M/model.safetensors" "hi"
check_refused "tokenize -o M/config.json (the file itself)" "$tmp/M/config.json" \
  "$cli" tokenize -m "$tmp/M" -o "$tmp/M/config.json" "hi"
printf 'One line.\n' >"$tmp/corpus.txt"
check_refused "stats -o M/vocab.txt" "$tmp/M/vocab.txt" \
  "$cli" stats -m "$tmp/M" --corpus "$tmp/corpus.txt" -o "$tmp/M/vocab.txt"
if "$cli" export --help >/dev/null 2>&1 && "$cli" export --help | grep -q -- --view; then
  check_refused "export -o M/tokenizer.json" "$tmp/M/tokenizer.json" \
    "$cli" export -m "$tmp/M" --format png -o "$tmp/M/tokenizer.json" "hi"
else skip "export -o a model file" "no export in this build"; fi
if [ "$(cksum <"$model/model.safetensors")" = "$before" ] && [ -L "$tmp/M/model.safetensors" ] &&
   cmp -s "$model/config.json" "$tmp/M/config.json"; then ok "the model's files are unchanged"
else nok "the model's files are unchanged" "$(ls -la "$tmp/M")"; fi

# 18-19. an existing file keeps its mode; a new one gets 0666 less the umask.
echo old >"$tmp/mode.txt"; chmod 640 "$tmp/mode.txt"
"$cli" tokenize -o "$tmp/mode.txt" "hi" 2>/dev/null
(umask 027; "$cli" tokenize -o "$tmp/new.txt" "hi" 2>/dev/null)
m1=$(stat -c %a "$tmp/mode.txt"); m2=$(stat -c %a "$tmp/new.txt")
if [ "$m1" = 640 ] && [ "$m2" = 640 ] && grep -q "^3 tokens" "$tmp/mode.txt"; then
  ok "modes: an existing target keeps 640, a new file under umask 027 gets 640"
else nok "modes" "existing: $m1, new: $m2"; fi

# 20-23. a bad output fails at once, before the corpus or the model runs,
# naming the path and the reason (root ignores permissions: use a path under
# a regular file, ENOTDIR, and a missing folder).
corpus=$(dirname "$0")/../data/corpus/doc-sentences.txt
[ -f "$corpus" ] || corpus=$tmp/corpus.txt
: >"$tmp/plain"
limit_ms=1000
[ -n "${ASAN_OPTIONS:-}" ] && limit_ms=5000   # tools/sanitize: everything runs slower
for target in "$tmp/plain/stats.csv" "$tmp/missing/stats.csv"; do
  start=$(date +%s%N)
  "$cli" stats --corpus "$corpus" -o "$target" >/dev/null 2>"$tmp/err"; rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  case $target in */plain/*) why="Not a directory" ;; *) why="No such file or directory" ;; esac
  if [ $rc = 1 ] && [ $ms -lt $limit_ms ] && grep -qx "attnscope-cli: error: cannot write $target: $why" "$tmp/err"; then
    ok "stats -o $(basename "$(dirname "$target")")/stats.csv fails in $ms ms: '$why'"
  else nok "stats -o $target fails at once" "rc=$rc, $ms ms; $(cat "$tmp/err")"; fi
done
"$cli" dump -o "$tmp/plain/x.npy" --format npy "$long" >/dev/null 2>"$tmp/err"; rc=$?
if [ $rc = 1 ] && grep -q "cannot write $tmp/plain/x.npy: Not a directory" "$tmp/err"; then
  ok "dump -o under a file: 'Not a directory'"
else nok "dump -o under a file" "rc=$rc; $(cat "$tmp/err")"; fi

# A reader that leaves early (`| head`) is a write error with a message and
# exit 1, not a death by SIGPIPE (status 141).
for cmd in dump; do
  "$cli" $cmd "$long" 2>"$tmp/err" | head -c 20 >/dev/null
  rc=${PIPESTATUS[0]}
  if [ "$rc" = 1 ] && grep -q "cannot write standard output: Broken pipe" "$tmp/err"; then
    ok "$cmd | head: exit 1 naming the broken pipe"
  else nok "$cmd | head: exit 1 naming the broken pipe" "rc=$rc; $(cat "$tmp/err")"; fi
done

echo "1..$n"
exit $((fails > 0))
