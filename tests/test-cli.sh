#!/usr/bin/env bash
# test-cli.sh — attnscope-cli end to end, TAP output. Usage: test-cli.sh CLI
set -u
cli=$1
data=${AS_TEST_DATA:?}
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
. "$(dirname "$0")/tap.sh"

have_model=1
[ -f "${ATTNSCOPE_MODEL_DIR:-}/model.safetensors" ] || have_model=0

# 1. tokenize shows word pieces, ids and spans
if [ $have_model = 1 ]; then
  out=$("$cli" tokenize "Hello, unaffable world!" 2>&1)
  if grep -q '\[CLS\] *101' <<<"$out" && grep -q 'hello *7592' <<<"$out" &&
     grep -q '##ffa' <<<"$out" && grep -q 'A\[0,5) "Hello"' <<<"$out"; then
    ok "tokenize prints pieces, ids and byte spans"
  else nok "tokenize prints pieces, ids and byte spans" "$out"; fi
else skip "tokenize" "default model not downloaded"; fi

# 2. dump matches the golden attention computed by transformers
if [ $have_model = 1 ]; then
  "$cli" dump --format json -o "$tmp/hello.json" "Hello, world!" 2>"$tmp/err"
  msg=$(python3 - "$tmp/hello.json" "$data/attention/hello.safetensors" <<'PY' 2>&1
import json, struct, sys
d = json.load(open(sys.argv[1]))
raw = open(sys.argv[2], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
def tensor(name):
    b, e = hdr[name]["data_offsets"]
    return hdr[name]["shape"], struct.unpack("<%df" % ((e - b) // 4), raw[8 + n + b:8 + n + e])
(L, H, R, N), att = tensor("attention")
_, rows = tensor("rows")
assert d["n_tokens"] == N == len(d["tokens"]), (d["n_tokens"], N)
assert [t["id"] for t in d["tokens"]][:2] == [101, 7592]
worst = 0.0
for l in range(L):
    for h in range(H):
        for r, row in enumerate(rows):
            ours = d["attention"][l][h][int(row)]
            ref = att[((l * H + h) * R + r) * N:((l * H + h) * R + r + 1) * N]
            worst = max(worst, max(abs(a - b) for a, b in zip(ours, ref)))
            assert abs(sum(ours) - 1) < 1e-5
print("max diff %.3g" % worst)
sys.exit(0 if worst <= 1e-5 else 1)
PY
)
  if [ $? = 0 ]; then ok "dump JSON matches transformers within 1e-5 ($msg)"; else nok "dump JSON matches transformers" "$msg"; fi
else skip "dump vs golden" "default model not downloaded"; fi

# 3. pair mode: type ids and two [SEP]
if [ $have_model = 1 ]; then
  "$cli" dump --pair "It was tired." -o "$tmp/pair.json" "The animal crossed." 2>/dev/null
  if python3 -c "
import json,sys; d=json.load(open('$tmp/pair.json'))
t=[x['text'] for x in d['tokens']]; ty=[x['type_id'] for x in d['tokens']]
assert t.count('[SEP]')==2 and ty[0]==0 and ty[-1]==1, (t,ty)
assert len(d['attention'])==6 and len(d['attention'][0])==12 and len(d['attention'][0][0])==len(t)
"; then ok "dump --pair gives two segments and [layers][heads][n][n]"; else nok "dump --pair"; fi
else skip "dump --pair" "default model not downloaded"; fi

# 4. an unwritable destination fails cleanly and leaves no file
if [ $have_model = 1 ] && [ "$(id -u)" != 0 ]; then
  mkdir "$tmp/ro"; chmod a-w "$tmp/ro"
  if ! "$cli" dump -o "$tmp/ro/x.json" "hi" 2>"$tmp/err" && grep -q "cannot write" "$tmp/err" &&
     [ -z "$(ls -A "$tmp/ro")" ]; then ok "unwritable folder: error, no partial file"
  else nok "unwritable folder" "$(cat "$tmp/err")"; fi
elif [ $have_model = 1 ]; then
  # root ignores permissions: use a path whose folder does not exist instead
  if ! "$cli" dump -o "$tmp/missing/x.json" "hi" 2>"$tmp/err" && grep -q "cannot write" "$tmp/err" &&
     [ ! -e "$tmp/missing" ]; then ok "missing folder: error, no partial file"
  else nok "missing folder" "$(cat "$tmp/err")"; fi
else skip "unwritable folder" "default model not downloaded"; fi

# 5. a bad model folder is refused with a message naming it
mkdir -p "$tmp/broken"; echo '{"model_type": "bert"}' >"$tmp/broken/config.json"
if ! "$cli" dump --model "$tmp/broken" "hi" >/dev/null 2>"$tmp/err" &&
   grep -q "$tmp/broken/config.json: required field 'num_hidden_layers' is missing" "$tmp/err"; then
  ok "broken model folder refused with file and reason"
else nok "broken model folder" "$(cat "$tmp/err")"; fi

# 6. usage errors exit 2, like an unknown command; runtime failures exit 1
msg=""
for args in "frobnicate" "dump --device tpu hi" "dump --bogus hi" "tokenize --format xml hi" \
            "dump --format xml hi" "stats --format xml --corpus x" "bench --format csv"; do
  # shellcheck disable=SC2086
  "$cli" $args >/dev/null 2>"$tmp/err"; rc=$?
  [ $rc = 2 ] && grep -q "^attnscope-cli: error: " "$tmp/err" || msg="$msg$args: exit $rc: $(head -1 "$tmp/err")"$'\n'
done
"$cli" dump --model "$tmp/broken" hi >/dev/null 2>&1; rc=$?
[ $rc = 1 ] || msg="${msg}broken model: exit $rc (expected 1)"
if [ -z "$msg" ]; then ok "usage errors exit 2 with 'attnscope-cli: error:', a runtime failure 1"
else nok "exit statuses" "$msg"; fi

# 7. very long input is truncated with a notice
if [ $have_model = 1 ]; then
  long=$(python3 -c "print('word ' * 3000)")
  "$cli" tokenize "$long" >"$tmp/long.txt" 2>"$tmp/err"
  if grep -q "truncated to the model's 512 positions" "$tmp/err" && grep -q "^512 tokens" "$tmp/long.txt"; then
    ok "long input truncated to 512 with a notice"
  else nok "long input truncation" "$(cat "$tmp/err"; tail -1 "$tmp/long.txt")"; fi
else skip "truncation" "default model not downloaded"; fi

# 8. stats over a few corpus lines: CSV with one row per head, values in range
if [ $have_model = 1 ]; then
  printf 'The cat sat on the mat.\nIt was, as always, too late.\n\nA second\tsentence here.\n' >"$tmp/corpus.txt"
  if "$cli" stats --corpus "$tmp/corpus.txt" --format csv -o "$tmp/stats.csv" 2>"$tmp/err" &&
     python3 - "$tmp/stats.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
heads = [r for r in rows if r.get("head") not in ("mean", None)]
assert len(heads) == 6 * 12, len(heads)
# Layers and heads count from 1, as everywhere else.
assert {int(r["layer"]) for r in heads} == set(range(1, 7)), sorted({r["layer"] for r in heads})
assert {int(r["head"]) for r in heads} == set(range(1, 13)), sorted({r["head"] for r in heads})
for r in heads:
    total = float(r["to_cls"]) + float(r["to_sep"])
    assert 0 <= total <= 1.0 + 1e-6, r
PY
  then ok "stats writes one CSV row per head (layers 1-6, heads 1-12) with values in range"
  else nok "stats" "$(cat "$tmp/err")"; fi
else skip "stats" "default model not downloaded"; fi

# 9. each command's --help lists only the options it honours
help_has() { "$cli" "$1" --help 2>&1 | grep -qE -- "(^|[ ,])$2([ =]|$)"; }
msg=""
for o in --device --precision --verbose; do help_has tokenize $o && msg="$msg tokenize offers $o;"; done
for o in --model --text-file --pair --output --format; do help_has tokenize $o || msg="$msg tokenize lacks $o;"; done
for o in --pair --text-file TEXT; do help_has stats $o && msg="$msg stats offers $o;"; done
for o in --corpus --device --output; do help_has stats $o || msg="$msg stats lacks $o;"; done
for o in --pair --text-file; do help_has bench $o && msg="$msg bench offers $o;"; done
for o in --device --precision --text-file --pair; do help_has dump $o || msg="$msg dump lacks $o;"; done
if [ -z "$msg" ]; then ok "--help of tokenize, stats, bench and dump lists only what each honours"
else nok "per-command --help" "$msg"; fi

# 10. options a command does not honour are errors (exit 2), not ignored
msg=""
for args in "tokenize --device cpu hi" "tokenize --precision fp16 hi" "stats --pair x --corpus y" \
            "stats --text-file y --corpus y" "stats --corpus y hello" "bench -t 2" "stats -c y" \
            "dump --device cpu --precision fp16 hi" "dump --text-file /dev/null hi"; do
  # shellcheck disable=SC2086
  "$cli" $args >/dev/null 2>"$tmp/err"; rc=$?
  [ $rc = 2 ] || msg="$msg$args: exit $rc: $(head -1 "$tmp/err")"$'\n'
done
if [ -z "$msg" ]; then ok "options and arguments a command cannot honour exit 2"
else nok "unhonoured options refused" "$msg"; fi

if [ $have_model = 1 ]; then
  # 11. tokenize --format json: tokens, ids, type ids and byte spans
  if "$cli" tokenize --format json --pair "B." "Hello, world!" >"$tmp/tok.json" 2>"$tmp/err" &&
     python3 - "$tmp/tok.json" <<'PY' 2>"$tmp/py"
import json, sys
d = json.load(open(sys.argv[1]))
t = d["tokens"]
assert d["n_tokens"] == len(t) and d["text"] == "Hello, world!" and d["pair"] == "B.", d
assert [x["id"] for x in t[:2]] == [101, 7592], t[:2]
assert (t[1]["start"], t[1]["end"], t[1]["type_id"]) == (0, 5, 0), t[1]
assert t[-1]["type_id"] == 1 and [x["text"] for x in t].count("[SEP]") == 2
PY
  then ok "tokenize --format json writes tokens, ids, type ids and spans"
  else nok "tokenize --format json" "$(cat "$tmp/err" "$tmp/py"; head -5 "$tmp/tok.json")"; fi

  # 12. tokenize -o FILE writes the file and nothing to stdout
  "$cli" tokenize -o "$tmp/tok.txt" "Hello, world!" >"$tmp/stdout" 2>"$tmp/err"; rc=$?
  if [ $rc = 0 ] && [ ! -s "$tmp/stdout" ] && grep -q "^6 tokens" "$tmp/tok.txt"; then
    ok "tokenize -o FILE writes the table to FILE, not stdout"
  else nok "tokenize -o FILE" "rc=$rc; stdout: $(head -2 "$tmp/stdout"); $(cat "$tmp/err")"; fi

  # 13. --device auto says nothing about a GPU it could not use, unless --verbose
  ATTNSCOPE_GPU_FORCE_FAIL=driver "$cli" dump -o "$tmp/auto.json" hi 2>"$tmp/err"; rc=$?
  ATTNSCOPE_GPU_FORCE_FAIL=driver "$cli" dump --verbose -o "$tmp/auto.json" hi 2>"$tmp/err2"; rc2=$?
  if [ $rc = 0 ] && [ ! -s "$tmp/err" ] && [ $rc2 = 0 ] && grep -q "GPU unavailable, using the CPU" "$tmp/err2"; then
    ok "--device auto: silent fallback to the CPU; --verbose says why"
  else nok "--device auto fallback note" "default: $(cat "$tmp/err"); --verbose: $(cat "$tmp/err2")"; fi

  # 14. stats -o FILE --format json numbers layers and heads from 1
  printf 'The cat sat.\n' >"$tmp/one.txt"
  if "$cli" stats --corpus "$tmp/one.txt" --per-layer --format json -o "$tmp/stats.json" 2>"$tmp/err" &&
     python3 -c "
import json, sys; d = json.load(open(sys.argv[1]))
assert (d['heads'][0]['layer'], d['heads'][0]['head']) == (1, 1), d['heads'][0]
assert (d['heads'][-1]['layer'], d['heads'][-1]['head']) == (6, 12), d['heads'][-1]
assert [l['layer'] for l in d['layers']] == [1, 2, 3, 4, 5, 6]" "$tmp/stats.json" 2>"$tmp/py"; then
    ok "stats JSON numbers layers 1-6 and heads 1-12"
  else nok "stats JSON numbering" "$(cat "$tmp/err" "$tmp/py")"; fi
else
  for what in "tokenize json" "tokenize -o" "device auto note" "stats json numbering"; do
    skip "$what" "default model not downloaded"; done
fi

# 15-17. a GGUF decoder from text: its own byte-level BPE, no template
gguf=${ATTNSCOPE_GGUF:-$(dirname "${ATTNSCOPE_MODEL_DIR:-.}")/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf}
if [ -f "$gguf" ]; then
  out=$("$cli" tokenize -m "$gguf" "Hello world" 2>&1)
  if grep -q 'Hello *19556' <<<"$out" && grep -q '^ *1  *world *905 .*A\[5,11) " world"' <<<"$out" &&
     grep -q '^2 tokens' <<<"$out"; then
    ok "tokenize -m GGUF: BPE ids, readable labels, no [CLS]/[SEP]"
  else nok "tokenize -m GGUF" "$out"; fi

  # The sentence, ids and attention transformers gave (tests/data/llama/).
  "$cli" dump -m "$gguf" -o "$tmp/gguf.json" "The cat sat on the mat." 2>"$tmp/err"
  msg=$(python3 - "$tmp/gguf.json" "$data/llama" <<'PY' 2>&1
import json, struct, sys
d = json.load(open(sys.argv[1]))
case = [c for c in json.load(open(sys.argv[2] + "/cases.json"))["cases"] if c["name"] == "short"][0]
assert [t["id"] for t in d["tokens"]] == case["ids"], [t["id"] for t in d["tokens"]]
n, L, H = d["n_tokens"], d["n_layers"], d["n_heads"]
raw = open(sys.argv[2] + "/short-attn.f32", "rb").read()
want = struct.unpack("<%df" % (L * H * n * n), raw)
worst = max(abs(d["attention"][l][h][r][c] - want[((l * H + h) * n + r) * n + c])
            for l in range(L) for h in range(H) for r in range(n) for c in range(n))
print("max diff %.3g" % worst)
sys.exit(0 if worst <= 2e-5 else 1)
PY
)
  if [ $? = 0 ]; then ok "dump -m GGUF matches transformers' ids and attention ($msg)"
  else nok "dump -m GGUF vs golden" "$msg $(cat "$tmp/err")"; fi

  "$cli" dump -m "$gguf" --pair "world" -o "$tmp/gpair.json" "Hello" 2>"$tmp/err"; rc=$?
  if [ $rc != 0 ] && grep -q "this model takes one text" "$tmp/err" && [ ! -e "$tmp/gpair.json" ]; then
    ok "dump -m GGUF --pair: refused, one text only"
  else nok "dump -m GGUF --pair refusal" "rc=$rc; $(cat "$tmp/err")"; fi
else
  for what in "tokenize GGUF" "dump GGUF" "dump GGUF pair"; do
    skip "$what" "SmolLM2 GGUF not downloaded ($gguf)"; done
fi

echo "1..$n"
exit $((fails > 0))
