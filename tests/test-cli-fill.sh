#!/usr/bin/env bash
# test-cli-fill.sh — attnscope-cli fill (masked-token predictions) end to end
# against the goldens of tools/make-tiny-encoders.py
# (tests/data/bert-mlm-tiny/mlm-goldens.json), TAP output.
# Usage: test-cli-fill.sh CLI
set -u
cli=$1
data=${AS_TEST_DATA:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/tap.sh"

tiny=$data/bert-mlm-tiny
golden=$tiny/mlm-goldens.json

# 1. --json for every golden sentence: the [MASK] positions, transformers'
#    top 10 ids in order and probabilities within 1e-5.
worst=0
all_ok=1
for c in 0 1 2; do
  text=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['cases'][int(sys.argv[2])]['text'])" "$golden" "$c")
  if "$cli" fill -m "$tiny" --json "$text" >"$tmp/out.json" 2>"$tmp/err" &&
     w=$(python3 - "$tmp/out.json" "$golden" "$c" <<'PY' 2>&1
import json, sys
d, g = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))["cases"][int(sys.argv[3])]
assert [t["id"] for t in d["tokens"]] == g["ids"], d["tokens"]
assert len(d["masks"]) == len(g["masks"])
worst = 0.0
for got, want in zip(d["masks"], g["masks"]):
    assert got["position"] == want["position"]
    assert [p["id"] for p in got["predictions"]] == want["top_ids"], (got, want["top_ids"])
    for p, q in zip(got["predictions"], want["top_probs"]):
        worst = max(worst, abs(p["prob"] - q))
assert worst <= 1e-5, worst
print(worst)
PY
); then worst=$(python3 -c "print(max($worst, $w))")
  else all_ok=0; nok "fill --json: '$text'" "$(cat "$tmp/err"; echo "${w:-}")"; fi
done
[ $all_ok = 1 ] && ok "fill --json gives transformers' top 10 at every [MASK] (worst probability difference $worst)"

# 2. The table: one block per mask, rank, probability, token.
if "$cli" fill -m "$tiny" -k 3 "The [MASK] brown fox jumps over the [MASK] dog." >"$tmp/t.txt" 2>"$tmp/err" &&
   msg=$(python3 - "$tmp/t.txt" "$golden" <<'PY' 2>&1
import json, re, sys
g = json.load(open(sys.argv[2]))["cases"][2]
vocab = [l.rstrip("\n") for l in open(sys.argv[2].replace("mlm-goldens.json", "vocab.txt"))]
blocks = open(sys.argv[1]).read().strip().split("\n\n")
assert len(blocks) == 2, blocks
for b, want in zip(blocks, g["masks"]):
    lines = b.split("\n")
    assert lines[0] == "position %d" % want["position"], lines[0]
    assert len(lines) == 4, lines
    for r, line in enumerate(lines[1:]):
        m = re.match(r'\s*(\d+)\s+([0-9.]+)\s+"(.*)"$', line)
        assert m and int(m.group(1)) == r + 1, line
        assert m.group(3) == vocab[want["top_ids"][r]], (line, vocab[want["top_ids"][r]])
        assert abs(float(m.group(2)) - want["top_probs"][r]) <= 5e-5 + 1e-5, line
print("ok")
PY
); then ok "fill prints one ranked block per [MASK]"
else nok "fill table" "$(cat "$tmp/err"; echo "${msg:-}")"; fi

# 3. --mask-position masks a token of the text: the same as writing [MASK].
if "$cli" fill -m "$tiny" --json "The capital of France is [MASK]." >"$tmp/a.json" 2>"$tmp/err" &&
   "$cli" fill -m "$tiny" --json --mask-position 6 "The capital of France is paris." >"$tmp/b.json" 2>>"$tmp/err" &&
   msg=$(python3 - "$tmp/a.json" "$tmp/b.json" <<'PY' 2>&1
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a["masks"] == b["masks"], (a["masks"], b["masks"])
assert b["tokens"][6]["text"] == "[MASK]", b["tokens"][6]
PY
); then ok "--mask-position 6 equals writing [MASK] there"
else nok "--mask-position" "$(cat "$tmp/err"; echo "${msg:-}")"; fi

# 4. Refusals, each with its message and exit status.
expect_fail() {   # STATUS PATTERN DESCRIPTION ARGS…
  local status=$1 pattern=$2 what=$3; shift 3
  "$cli" fill "$@" >"$tmp/o" 2>"$tmp/e"
  local rc=$?
  if [ $rc = "$status" ] && grep -q -- "$pattern" "$tmp/e"; then ok "refuses $what (exit $rc)"
  else nok "refuses $what" "exit $rc; $(cat "$tmp/e")"; fi
}
expect_fail 2 "no \[MASK\] token" "a text without [MASK]" -m "$tiny" "The cat sat."
expect_fail 2 "mask-position: 0 is not a token" "masking [CLS]" -m "$tiny" --mask-position 0 "The cat sat."
expect_fail 2 "mask-position: 9 is not a token" "a position past the end" -m "$tiny" --mask-position 9 "The cat sat."
expect_fail 2 "mask-position: -2 is not a token" "a negative position" -m "$tiny" --mask-position -2 "The cat sat."
expect_fail 2 "top-k: 0 is out of range" "--top-k 0" -m "$tiny" -k 0 "The [MASK] sat."
expect_fail 1 "no masked-LM head" "an encoder without the head" -m "$data/distilbert-tiny" "The [MASK] sat."
expect_fail 1 "no masked-LM head" "a decoder" -m "$data/llama/tiny.gguf" "The [MASK] sat."

echo "1..$n"
[ $fails = 0 ]
