#!/usr/bin/env bash
# test-cli-lens.sh — attnscope-cli lens (the logit lens) and the sink column
# of attnscope-cli stats, end to end against the goldens of
# tools/make-lens-goldens.py (tests/data/lens/), TAP output.
# Usage: test-cli-lens.sh CLI
set -u
cli=$1
data=${AS_TEST_DATA:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/tap.sh"

tiny=$data/llama/tiny.gguf
tiny_ids=$(python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['ids'])))" \
           "$data/lens/tiny.json")
smollm2=${ATTNSCOPE_GGUF:-}
if [ -z "$smollm2" ] && [ -n "${ATTNSCOPE_MODEL_DIR:-}" ]; then
  smollm2=$(dirname "$ATTNSCOPE_MODEL_DIR")/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf
fi
have_smollm2=0
[ -n "$smollm2" ] && [ -f "$smollm2" ] && have_smollm2=1
have_encoder=0
[ -f "${ATTNSCOPE_MODEL_DIR:-}/model.safetensors" ] && have_encoder=1

# 1. The table prints transformers' top-1 token of every layer and position
#    (the tiny model has no tokenizer: tokens show as #ID).
if "$cli" lens -m "$tiny" --ids "$tiny_ids" >"$tmp/tiny.txt" 2>"$tmp/err" &&
   msg=$(python3 - "$tmp/tiny.txt" "$data/lens/tiny.json" <<'PY' 2>&1
import json, re, sys
g = json.load(open(sys.argv[2]))
got, layer = {}, None
for line in open(sys.argv[1]):
    m = re.match(r"layer (\d+) of (\d+)$", line.strip())
    if m:
        layer = int(m.group(1))
        continue
    m = re.match(r"\s*(\d+)\s+#(\d+)\s+->\s+#(\d+) ([0-9.]+)", line)
    assert m, line
    got[(layer, int(m.group(1)))] = (int(m.group(2)), int(m.group(3)), float(m.group(4)))
assert len(got) == g["n_layers"] * g["n"], len(got)
for gl in g["layers"]:
    for i in range(g["n"]):
        tok, top1, p = got[(gl["layer"], i)]
        assert tok == g["ids"][i]
        assert top1 == gl["top_ids"][i][0], (gl["layer"], i, top1, gl["top_ids"][i][0])
        assert abs(p - gl["top_probs"][i][0]) <= 1e-4 + 5e-5, (p, gl["top_probs"][i][0])
print("%d layers x %d positions" % (g["n_layers"], g["n"]))
PY
); then ok "lens prints transformers' top-1 token at every layer and position of tiny.gguf ($msg)"
else nok "lens table on tiny.gguf" "$(cat "$tmp/err"; echo "${msg:-}")"; fi

# 2. --json parses and holds the golden top-5 (ids, probabilities within 1e-4)
if "$cli" lens -m "$tiny" --ids "$tiny_ids" --json -o "$tmp/tiny.json" 2>"$tmp/err" &&
   msg=$(python3 - "$tmp/tiny.json" "$data/lens/tiny.json" <<'PY' 2>&1
import json, sys
d, g = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert d["k"] == 5 and d["n_layers"] == g["n_layers"] and d["n_tokens"] == g["n"]
assert [t["id"] for t in d["tokens"]] == g["ids"]
assert all(t["text"] is None for t in d["tokens"])   # no tokenizer
assert [l["layer"] for l in d["layers"]] == [1, 2]
worst = 0
for dl, gl in zip(d["layers"], g["layers"]):
    for i, pos in enumerate(dl["positions"]):
        assert pos["ids"][0] == gl["top_ids"][i][0]
        for r in range(5):
            worst = max(worst, abs(pos["probs"][r] - gl["top_probs"][i][r]))
        assert pos["probs"] == sorted(pos["probs"], reverse=True) and sum(pos["probs"]) <= 1 + 1e-6
assert worst <= 1e-4, worst
print("max |d| %.2g" % worst)
PY
); then ok "lens --json parses and matches the goldens ($msg)"
else nok "lens --json on tiny.gguf" "$(cat "$tmp/err"; echo "${msg:-}")"; fi

# 3. --layer L gives that layer alone, equal to its part of the full run
if "$cli" lens -m "$tiny" --ids "$tiny_ids" --layer 2 --format json -o "$tmp/l2.json" 2>"$tmp/err" &&
   python3 -c "
import json, sys
one, full = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert [l['layer'] for l in one['layers']] == [2]
assert one['layers'][0] == full['layers'][1]" "$tmp/l2.json" "$tmp/tiny.json" 2>"$tmp/py"; then
  ok "lens --layer 2 gives layer 2 alone, as in the full run"
else nok "lens --layer" "$(cat "$tmp/err" "$tmp/py")"; fi

# 4. Bad --top-k, --layer and --ids are refused with a message and exit 2
msg=""
while IFS='|' read -r args want; do
  # shellcheck disable=SC2086
  "$cli" lens -m "$tiny" $args >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ $rc != 2 ] || ! grep -qF -- "$want" "$tmp/err" || [ -s "$tmp/out" ]; then
    msg="$msg[$args] exit $rc: $(cat "$tmp/err");"
  fi
done <<EOF
--ids 1,2 --top-k 0|--top-k: 0 is out of range (1 to 100)
--ids 1,2 --top-k 101|--top-k: 101 is out of range (1 to 100)
--ids 1,2 --top-k 65|--top-k: 65 is more than the vocabulary (64 tokens)
--ids 1,2 --top-k abc|Cannot parse integer value
--ids 1,2 --layer 0|--layer: '0' is not a layer of this model (1 to 2)
--ids 1,2 --layer 3|--layer: '3' is not a layer of this model (1 to 2)
--ids 1,2 --layer -1|--layer: '-1' is not a layer of this model (1 to 2)
--ids 1,2 --layer two|--layer: 'two' is not a layer of this model (1 to 2)
--ids 1,x|--ids: item 2 'x' is not a token id
--ids 1,2 word|give either --ids or a text, not both
--ids 1,2 --format xml|--format
EOF
if [ -z "$msg" ]; then ok "bad --top-k, --layer, --ids and --format are refused with a message, exit 2"
else nok "lens refusals" "$msg"; fi

# 5. Work that cannot be done exits 1 with the reason: an id past the
#    vocabulary, text for a model without a tokenizer
msg=""
"$cli" lens -m "$tiny" --ids 1,64 >/dev/null 2>"$tmp/err"
rc=$?; { [ $rc = 1 ] && grep -q "id 64 out of range (vocab 64)" "$tmp/err"; } || msg="$msg[id 64] exit $rc: $(cat "$tmp/err");"
"$cli" lens -m "$tiny" "some text" >/dev/null 2>"$tmp/err"
rc=$?; { [ $rc = 1 ] && grep -q "pass --ids" "$tmp/err"; } || msg="$msg[text] exit $rc: $(cat "$tmp/err");"
if [ -z "$msg" ]; then ok "an id out of range and text without a tokenizer exit 1 with the reason"
else nok "lens failures" "$msg"; fi

# 6. An encoder has no language-model head: refused by name
if [ $have_encoder = 1 ]; then
  "$cli" lens -m "$ATTNSCOPE_MODEL_DIR" "Hello world" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ $rc = 1 ] && grep -q "a bert model has no language-model head; the logit lens needs a decoder" "$tmp/err" &&
     [ ! -s "$tmp/out" ]; then ok "lens refuses an encoder (all-MiniLM-L6-v2) with the reason"
  else nok "lens refuses an encoder" "exit $rc: $(cat "$tmp/err")"; fi
else skip "lens refuses an encoder" "all-MiniLM-L6-v2 not downloaded"; fi

# 7. --help lists the lens options
help=$("$cli" lens --help 2>&1)
msg=""
for o in --top-k --layer --ids --json --format --model --text-file; do
  grep -q -- "$o" <<<"$help" || msg="$msg lacks $o;"
done
if [ -z "$msg" ]; then ok "lens --help lists its options"; else nok "lens --help" "$msg"; fi

# 8. SmolLM2: the text path, every layer's top-1 against transformers
if [ $have_smollm2 = 1 ]; then
  sentence=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['sentence'])" "$data/lens/smollm2.json")
  if "$cli" lens -m "$smollm2" --json -o "$tmp/smol.json" "$sentence" 2>"$tmp/err" &&
     msg=$(python3 - "$tmp/smol.json" "$data/lens/smollm2.json" <<'PY' 2>&1
import json, sys
d, g = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert [t["id"] for t in d["tokens"]] == g["ids"]
assert [t["text"] for t in d["tokens"]] == g["tokens"], [t["text"] for t in d["tokens"]]
assert len(d["layers"]) == 30
worst = 0
for dl, gl, texts in zip(d["layers"], g["layers"], g["top1_text"]):
    for i, pos in enumerate(dl["positions"]):
        assert pos["ids"][0] == gl["top_ids"][i][0], (dl["layer"], i)
        assert pos["texts"][0] == texts[i], (pos["texts"][0], texts[i])
        worst = max(worst, max(abs(a - b) for a, b in zip(pos["probs"], gl["top_probs"][i])))
assert worst <= 1e-4, worst
print("30 layers, max |d| %.2g" % worst)
PY
); then ok "lens on SmolLM2 text: every layer's top-1 token and text as transformers ($msg)"
  else nok "lens on SmolLM2" "$(cat "$tmp/err"; echo "${msg:-}")"; fi
else skip "lens on SmolLM2" "the SmolLM2 GGUF is not downloaded ($smollm2)"; fi

# 9. stats prints the sink column: SmolLM2's per-head share equals
#    transformers' mean attention on the first token (CSV and JSON)
if [ $have_smollm2 = 1 ]; then
  printf '%s\n' "$sentence" >"$tmp/corpus.txt"
  if "$cli" stats -m "$smollm2" --corpus "$tmp/corpus.txt" -o "$tmp/stats.csv" 2>"$tmp/err" &&
     "$cli" stats -m "$smollm2" --corpus "$tmp/corpus.txt" --format json -o "$tmp/stats.json" 2>>"$tmp/err" &&
     msg=$(python3 - "$tmp/stats.csv" "$tmp/stats.json" "$data/lens/smollm2.json" <<'PY' 2>&1
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
heads = json.load(open(sys.argv[2]))["heads"]
g = json.load(open(sys.argv[3]))["sink"]
assert "sink" in rows[0], list(rows[0])
assert len(rows) == len(heads) == 30 * 9
worst = 0
for r, h in zip(rows, heads):
    want = g[int(r["layer"]) - 1][int(r["head"]) - 1]
    worst = max(worst, abs(float(r["sink"]) - want), abs(h["sink"] - want))
assert worst <= 1e-5, worst
print("270 heads, max |d| %.2g" % worst)
PY
); then ok "stats prints the sink column, equal to transformers' per head ($msg)"
  else nok "stats sink column" "$(cat "$tmp/err"; echo "${msg:-}")"; fi
else skip "stats sink column" "the SmolLM2 GGUF is not downloaded ($smollm2)"; fi

echo "1..$n"
[ $fails = 0 ]
