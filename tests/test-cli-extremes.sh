#!/usr/bin/env bash
# test-cli-extremes.sh — attnscope-cli against hostile model folders and
# extreme inputs, TAP output. Usage: test-cli-extremes.sh CLI [ZOO_MAKER]
#
# 1. Every folder of the hostile zoo (made by test-hostile-zoo --make-zoo) is
#    refused: exit status 1 (not a crash), no output file, and a message that
#    names the file and the problem (the words listed in its MANIFEST).
# 2. Extreme text (empty, whitespace, 100,000 characters, invalid UTF-8 from a
#    file, right-to-left scripts, emoji with ZWJ, zero-width and control
#    characters, NUL bytes, a megabyte of random bytes) gives a valid result:
#    the dump parses, spans lie inside the input, every attention row sums to
#    1; an over-long input says it was truncated; NUL bytes stay in the JSON
#    text; text beyond what the model can use is not read (1 GB on stdin).
# 3. An input whose attention would exceed ATTNSCOPE_MAX_ATTENTION_MB is
#    refused with the figures; a value of it that is not a number is refused.
# Any sanitizer report or GLib critical on stderr fails the case.
set -u
cli=$1
zoo_maker=${2:-${AS_TEST_BUILD:-$(dirname "$0")}/test-hostile-zoo}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/tap.sh"

# Sanitizer reports, GLib criticals and warnings are failures wherever they show.
noisy() { grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|-CRITICAL \*\*|-WARNING \*\*' "$1"; }

have_model=1
[ -f "${ATTNSCOPE_MODEL_DIR:-}/model.safetensors" ] || have_model=0

# --- 1. the hostile zoo ---------------------------------------------------------
zoo="$tmp/zoo"
if ! "$zoo_maker" --make-zoo "$zoo" >"$tmp/zoo.log" 2>&1; then
  nok "build the hostile zoo with $zoo_maker" "$(cat "$tmp/zoo.log")"
else
  if "$cli" dump --model "$zoo/base" -o "$tmp/base.json" "hello world" 2>"$tmp/err" && ! noisy "$tmp/err"; then
    ok "the zoo's valid base model loads and runs"
  else nok "the zoo's valid base model loads and runs" "$(cat "$tmp/err")"; fi
  refused=0
  while IFS=$'\t' read -r name file what e1 e2 e3; do
    case "$name" in ''|'#'*) continue ;; esac
    rm -f "$tmp/out.json"
    "$cli" dump --model "$zoo/$name" -o "$tmp/out.json" "hello world" >/dev/null 2>"$tmp/err"
    status=$?
    problem=""
    [ $status = 1 ] || problem="exit status $status (expected 1)"
    [ -e "$tmp/out.json" ] && problem="$problem; left an output file"
    noisy "$tmp/err" && problem="$problem; sanitizer or GLib report"
    for word in "$file" "${e1:-}" "${e2:-}" "${e3:-}"; do
      [ -z "$word" ] && continue
      grep -qF -- "$word" "$tmp/err" || problem="$problem; message lacks '$word'"
    done
    if [ -z "$problem" ]; then
      refused=$((refused+1))
      ok "zoo $name ($what) refused: $(head -c 200 "$tmp/err" | tr -d '\n' | sed "s|$zoo/||")"
    else nok "zoo $name ($what)" "$problem
$(cat "$tmp/err")"; fi
  done <"$zoo/MANIFEST"
  echo "# hostile folders refused by the CLI: $refused"
fi

# --- 2. extreme inputs -------------------------------------------------------------
# check_dump JSON TEXT_FILE [expect-truncated]: the dump is well formed.
check_dump() {
  python3 - "$@" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
text = open(sys.argv[2], "rb").read() if sys.argv[2] != "-" else b""
truncated = len(sys.argv) > 3
n = d["n_tokens"]
assert n == len(d["tokens"]) and 2 <= n <= 512, n
assert d["truncated"] == truncated, d["truncated"]
assert d["tokens"][0]["text"] == "[CLS]" and d["tokens"][-1]["text"] == "[SEP]"
for t in d["tokens"]:
    if t["sequence"] == 0:
        assert 0 <= t["start"] <= t["end"] <= len(text), (t, len(text))
    assert 0 <= t["id"] < 30522
att = d["attention"]
assert len(att) == d["n_layers"] and len(att[0]) == d["n_heads"]
for layer in att:
    for head in layer:
        assert len(head) == n
        for row in head:
            assert len(row) == n and abs(sum(row) - 1) < 1e-4, sum(row)
print("%d tokens" % n)
PY
}

# extreme NAME FILE [expect-truncated]: dump the bytes of FILE as sentence A.
extreme() {
  local name=$1 file=$2 trunc=${3:-}
  if "$cli" dump --text-file "$file" -o "$tmp/x.json" 2>"$tmp/err" && ! noisy "$tmp/err" &&
     msg=$(check_dump "$tmp/x.json" "$file" $trunc 2>&1); then
    if [ -n "$trunc" ] && ! grep -q "input truncated to the model's 512 positions" "$tmp/err"; then
      nok "$name: no truncation notice" "$(cat "$tmp/err")"
    else ok "$name: valid dump ($msg)"; fi
  else nok "$name" "$(cat "$tmp/err"; echo "${msg:-}")"; fi
}

if [ $have_model = 1 ]; then
  python3 - "$tmp" <<'PY'
import os, random, sys
d = sys.argv[1]
def w(name, data):
    open(os.path.join(d, name), "wb").write(data if isinstance(data, bytes) else data.encode("utf-8"))
w("empty", b"")
w("whitespace", " \t\n\r\u00a0\u3000\u2028  \n")
w("paste-100k", ("The animal didn't cross the street because it was too tired. " * 1700)[:100000])
w("one-word-100k", "a" * 100000)
w("invalid-utf8", b"ok \xff\xfe caf\xe9 \xc3( \xe2\x82 \xf0\x9f\x98 \xed\xa0\x80 \xc0\xaf \xf4\x90\x80\x80 end")
w("nul-bytes", b"before\x00after \x00\x00 end")
w("rtl", "שלום עולם! مرحبا بالعالم. \u202eevil\u202c mixed עברית and English")
w("emoji-zwj", "👩‍💻 codes; 👨‍👩‍👧‍👦 family; 🏳️‍🌈 flag; 👍🏽 tone; 🇫🇷 pair")
w("zero-width", "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom\u2060word\u00adsoft")
w("control-chars", "tab\there\x01\x02\x1b[31mred\x1b[0m\x7f\u0085next\u2028line\x0bvt\x0cff")
w("only-controls", "\x01\x02\x03\x1b\x7f\u200b\u200e\ufeff")
w("combining-100k", "a" + "\u0301" * 100000 + " b")
w("cjk-100k", "東京大阪" * 25000)
w("emoji-100k", "👍 " * 50000)
random.seed(7)
w("random-1mb", bytes(random.getrandbits(8) for _ in range(1 << 20)))
PY
  extreme "empty text" "$tmp/empty"
  extreme "whitespace-only text" "$tmp/whitespace"
  extreme "100,000 characters pasted" "$tmp/paste-100k" truncated
  extreme "one 100,000-character word" "$tmp/one-word-100k"
  extreme "invalid UTF-8 from a file" "$tmp/invalid-utf8"
  extreme "NUL bytes from a file" "$tmp/nul-bytes"
  extreme "right-to-left text (Hebrew, Arabic, RLO)" "$tmp/rtl"
  extreme "emoji with ZWJ, skin tones, flags" "$tmp/emoji-zwj"
  extreme "zero-width characters" "$tmp/zero-width"
  extreme "control characters" "$tmp/control-chars"
  extreme "only control and format characters" "$tmp/only-controls"
  extreme "100,000 combining marks" "$tmp/combining-100k"
  extreme "100,000 CJK ideographs" "$tmp/cjk-100k" truncated
  extreme "100,000 characters of emoji and spaces" "$tmp/emoji-100k" truncated
  # A megabyte of random bytes from stdin: tokenize only (the dump is big).
  if "$cli" tokenize --text-file - <"$tmp/random-1mb" >"$tmp/rand.txt" 2>"$tmp/err" && ! noisy "$tmp/err" &&
     grep -q "^512 tokens" "$tmp/rand.txt" && grep -q "truncated" "$tmp/err"; then
    ok "1 MB of random bytes on stdin: 512 tokens and a truncation notice"
  else nok "1 MB of random bytes on stdin" "$(cat "$tmp/err"; tail -2 "$tmp/rand.txt")"; fi
  # Pairs: an empty second sentence; both sentences long (longest-first).
  if "$cli" dump --pair "" -o "$tmp/p.json" "First sentence." 2>"$tmp/err" && ! noisy "$tmp/err" &&
     python3 -c "
import json; d=json.load(open('$tmp/p.json'))
assert [t['text'] for t in d['tokens']].count('[SEP]') == 2, d['tokens']"; then
    ok "pair with an empty second sentence"
  else nok "pair with an empty second sentence" "$(cat "$tmp/err")"; fi
  long=$(head -c 20000 "$tmp/paste-100k")
  if "$cli" tokenize --pair "$long" "$long" >"$tmp/pair.txt" 2>"$tmp/err" && ! noisy "$tmp/err" &&
     grep -q "^512 tokens" "$tmp/pair.txt" && grep -q "truncated" "$tmp/err"; then
    ok "two long sentences: truncated longest-first to 512 with a notice"
  else nok "two long sentences" "$(cat "$tmp/err"; tail -2 "$tmp/pair.txt")"; fi
  # The whole 512-token attention as .npy: every row sums to 1.
  if "$cli" dump --format npy --text-file "$tmp/paste-100k" -o "$tmp/big.npy" 2>"$tmp/err" && ! noisy "$tmp/err" &&
     msg=$(python3 - "$tmp/big.npy" <<'PY' 2>&1
import array, ast, struct, sys
raw = open(sys.argv[1], "rb").read()
hlen = struct.unpack("<H", raw[8:10])[0]
shape = ast.literal_eval(raw[10:10 + hlen].decode())["shape"]
a = array.array("f"); a.frombytes(raw[10 + hlen:])
L, H, N, _ = shape
assert N == 512 and len(a) == L * H * N * N, (shape, len(a))
worst = max(abs(sum(a[r * N:(r + 1) * N]) - 1) for r in range(L * H * N))
assert worst < 1e-4, worst
print("shape %s, worst row sum error %.2g" % (shape, worst))
PY
); then ok "512-token attention as .npy: $msg"
  else nok "512-token attention as .npy" "$(cat "$tmp/err"; echo "${msg:-}")"; fi
else
  for what in "extreme inputs" "random bytes" "pairs" "512-token npy"; do skip "$what" "default model not downloaded"; done
fi

# NUL bytes are part of the text: the dump's "text" holds all of it (as
# \u0000), so every token span lies inside it.
if [ $have_model = 1 ]; then
  if "$cli" dump --text-file "$tmp/nul-bytes" -o "$tmp/nul.json" 2>"$tmp/err" &&
     "$cli" tokenize --format json --text-file "$tmp/nul-bytes" -o "$tmp/nul-tok.json" 2>>"$tmp/err" &&
     msg=$(python3 - "$tmp/nul.json" "$tmp/nul-tok.json" "$tmp/nul-bytes" <<'PY' 2>&1
import json, sys
raw = open(sys.argv[3], "rb").read()
for path in sys.argv[1:3]:
    d = json.load(open(path, encoding="utf-8"))
    text = d["text"].encode("utf-8")
    assert text == raw, (path, text, raw)
    for t in d["tokens"]:
        assert t["end"] <= len(text), (path, t, len(text))
print("%d bytes, %d NULs kept" % (len(raw), raw.count(0)))
PY
); then ok "NUL bytes in --text-file: dump and tokenize JSON keep the whole text ($msg)"
  else nok "NUL bytes kept in the JSON text" "$(cat "$tmp/err"); ${msg:-}"; fi
else skip "NUL bytes kept in the JSON text" "default model not downloaded"; fi

# Text is read only as far as the model can use (1 MiB, or 2 KiB per
# position): a gigabyte on stdin or a 50 MB file ends quickly, in bounded
# memory, with a note.
if [ $have_model = 1 ]; then
  rss() { # rss FILE COMMAND…: runs COMMAND, the peak RSS in kB goes to FILE
    local out=$1; shift
    if [ -x /usr/bin/time ]; then /usr/bin/time -o "$out" -f %M "$@"; else echo 0 >"$out"; "$@"; fi
  }
  start=$(date +%s)
  head -c 1G /dev/zero | rss "$tmp/rss" "$cli" tokenize --text-file - >"$tmp/z.txt" 2>"$tmp/err"
  rc=${PIPESTATUS[1]}; secs=$(( $(date +%s) - start )); kb=$(tail -1 "$tmp/rss")
  if [ "$rc" = 0 ] && [ $secs -le 10 ] && [ "$kb" -lt 400000 ] && ! noisy "$tmp/err" &&
     grep -q "note: text cut at 1048576 bytes" "$tmp/err"; then
    ok "1 GB of NULs on stdin: exit 0 in ${secs}s, peak RSS ${kb} kB, 'text cut at 1048576 bytes'"
  else nok "1 GB on stdin" "exit $rc, ${secs}s, ${kb} kB; $(cat "$tmp/err")"; fi
  yes "word" | head -c 50M >"$tmp/50mb.txt"
  rss "$tmp/rss" "$cli" dump --format npy --text-file "$tmp/50mb.txt" -o "$tmp/50mb.npy" 2>"$tmp/err"; rc=$?
  kb=$(tail -1 "$tmp/rss")
  if [ $rc = 0 ] && [ "$kb" -lt 600000 ] && grep -q "note: text cut at 1048576 bytes" "$tmp/err" &&
     grep -q "input truncated to the model's 512 positions" "$tmp/err" && ! noisy "$tmp/err"; then
    ok "a 50 MB --text-file: 512 tokens, peak RSS ${kb} kB, both notes"
  else nok "a 50 MB --text-file" "exit $rc, ${kb} kB; $(cat "$tmp/err")"; fi
  rm -f "$tmp/50mb.txt" "$tmp/50mb.npy"
else skip "text read with a cap" "default model not downloaded"; fi

# --- 3. resource limits ---------------------------------------------------------------
# A budget that is not a number in range is refused up front (exit 2), with
# the variable and the range, not silently replaced by the default.
msg=""
for value in abc 0 -1 1e99 12MB 2199023255552; do
  for cmd in "dump hi" "stats --corpus /dev/null"; do
    # shellcheck disable=SC2086
    ATTNSCOPE_MAX_ATTENTION_MB=$value "$cli" $cmd >/dev/null 2>"$tmp/err"; rc=$?
    [ $rc = 2 ] && grep -q "ATTNSCOPE_MAX_ATTENTION_MB='$value' is not a whole number of megabytes from 1 to 1099511627776" "$tmp/err" ||
      msg="$msg$value ($cmd): exit $rc: $(head -1 "$tmp/err")"$'\n'
  done
done
if [ -z "$msg" ]; then ok "ATTNSCOPE_MAX_ATTENTION_MB=abc, 0, -1, 1e99, 12MB, 2^41: exit 2 naming the variable and the range"
else nok "bad ATTNSCOPE_MAX_ATTENTION_MB" "$msg"; fi
if [ $have_model = 1 ]; then
  if ! ATTNSCOPE_MAX_ATTENTION_MB=40 "$cli" dump --text-file "$tmp/paste-100k" -o "$tmp/limit.json" 2>"$tmp/err" &&
     grep -q "needs 92 MB for the attention of 6 layers x 12 heads (limit 40 MB): shorten it to at most 331 tokens" "$tmp/err" &&
     [ ! -e "$tmp/limit.json" ] && ! noisy "$tmp/err"; then
    ok "over the attention budget: refused with the figures, no output file"
  else nok "over the attention budget" "$(cat "$tmp/err")"; fi
  printf 'a short sentence fits' >"$tmp/short"
  if ATTNSCOPE_MAX_ATTENTION_MB=40 "$cli" dump --text-file "$tmp/short" -o "$tmp/fits.json" 2>"$tmp/err" &&
     check_dump "$tmp/fits.json" "$tmp/short" >/dev/null 2>&1; then
    ok "under the same budget a short input still works"
  else nok "short input under the budget" "$(cat "$tmp/err")"; fi
else skip "resource limits" "default model not downloaded"; fi
# A valid model with 65,536 positions (the zoo's long-context/): 30,000 words
# are 30,002 tokens (13 GB of attention), over the default budget: refused
# with the figures (the budget check comes before any allocation; a failed
# allocation would say "not enough memory"), and no output file.
if [ -d "$zoo/long-context" ]; then
  python3 -c "import sys; sys.stdout.write('a b ' * 15000)" >"$tmp/words-30k"
  if ! "$cli" dump --model "$zoo/long-context" --text-file "$tmp/words-30k" -o "$tmp/long.json" 2>"$tmp/err" &&
     grep -q "an input of 30002 tokens needs [0-9]* MB for the attention of 1 layer x 2 heads (limit 2048 MB): shorten it to at most [0-9]* tokens" "$tmp/err" &&
     [ ! -e "$tmp/long.json" ] && ! noisy "$tmp/err"; then
    ok "long-context model, 30,002 tokens: refused with the figures: $(head -c 160 "$tmp/err")"
  else nok "long-context model, 30,002 tokens" "$(cat "$tmp/err")"; fi
  head -c 4000 "$tmp/words-30k" >"$tmp/words-2k"
  if "$cli" tokenize --model "$zoo/long-context" --text-file "$tmp/words-2k" >"$tmp/t2k.txt" 2>"$tmp/err" &&
     grep -q "^2002 tokens" "$tmp/t2k.txt" &&
     "$cli" dump --model "$zoo/long-context" --format npy --text-file "$tmp/words-2k" -o "$tmp/long.npy" 2>>"$tmp/err" &&
     [ "$(stat -c %s "$tmp/long.npy")" -gt $((2 * 2002 * 2002 * 4)) ] && ! noisy "$tmp/err"; then
    ok "long-context model, 2,002 tokens: fits and runs"
  else nok "long-context model, 2,002 tokens" "$(cat "$tmp/err"; tail -2 "$tmp/t2k.txt")"; fi
fi

echo "1..$n"
exit $((fails > 0))
