#!/usr/bin/env bash
# test-cli.sh — attnscope-cli end to end, TAP output. Usage: test-cli.sh CLI
set -u
cli=$1
data=${AS_TEST_DATA:?}
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
n=0
fails=0
ok()   { n=$((n+1)); echo "ok $n - $1"; }
nok()  { n=$((n+1)); fails=$((fails+1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/# /' <<<"$2"; }
skip() { n=$((n+1)); echo "ok $n - $1 # SKIP $2"; }

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

# 6. usage errors exit non-zero
if ! "$cli" frobnicate >/dev/null 2>&1 && ! "$cli" dump --device tpu hi >/dev/null 2>&1; then
  ok "unknown command / bad --device exit non-zero"
else nok "usage errors"; fi

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
for r in heads:
    total = float(r["to_cls"]) + float(r["to_sep"])
    assert 0 <= total <= 1.0 + 1e-6, r
PY
  then ok "stats writes one CSV row per head with values in range"
  else nok "stats" "$(cat "$tmp/err")"; fi
else skip "stats" "default model not downloaded"; fi

echo "1..$n"
exit $((fails > 0))
