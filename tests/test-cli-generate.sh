#!/usr/bin/env bash
# test-cli-generate.sh — attnscope-cli generate end to end, TAP output.
# Usage: test-cli-generate.sh CLI
#
# Greedy output against transformers' generate (tests/data/generate/, from
# tools/make-generate-goldens.py): the tiny seeded Llama always (ids only),
# SmolLM2-135M-Instruct when downloaded (text, --chat, --json, -o with
# attention rows). Bad options and an encoder are refused with a message.
set -u
cli=$1
data=${AS_TEST_DATA:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/tap.sh"

tiny=$data/llama/tiny.gguf
gold=$data/generate
smol=${ATTNSCOPE_GGUF:-$(dirname "${ATTNSCOPE_MODEL_DIR:-/nonexistent}")/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf}
have_smol=1
[ -f "$smol" ] || have_smol=0
bert=${ATTNSCOPE_MODEL_DIR:-}
have_bert=1
[ -f "$bert/model.safetensors" ] || have_bert=0

# A field of a golden case: golden FILE CASE FIELD (lists comma-joined).
golden() {
  python3 - "$gold/$1" "$2" "$3" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c = next(c for c in d["cases"] if c["name"] == sys.argv[2])
v = c[sys.argv[3]]
print(",".join(map(str, v)) if isinstance(v, list) else v, end="")
PY
}

# 1-2. tiny: greedy ids as transformers', as text (ids) and as JSON
for case in ids-a ids-b; do
  prompt=$(golden tiny.json $case prompt_ids)
  want=$(golden tiny.json $case new_ids | tr , ' ')
  out=$("$cli" generate -m "$tiny" --ids "$prompt" --max-tokens 40 2>&1)
  if [ $? = 0 ] && [ "$out" = "$want" ]; then ok "tiny $case: 40 greedy ids as transformers'"
  else nok "tiny $case: 40 greedy ids as transformers'" "got:  $out
want: $want"; fi
done

# 3. tiny --json: the fields, the ids, the top tokens' probabilities
"$cli" generate -m "$tiny" --ids "$(golden tiny.json ids-b prompt_ids)" --max-tokens 40 --json --show-top 3 \
  >"$tmp/tiny.json" 2>"$tmp/err"
msg=$(python3 - "$tmp/tiny.json" "$gold/tiny.json" <<'PY' 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
g = next(c for c in json.load(open(sys.argv[2]))["cases"] if c["name"] == "ids-b")
assert d["prompt_ids"] == g["prompt_ids"] and d["prompt"] is None and d["text"] is None
assert d["generated_ids"] == g["new_ids"], d["generated_ids"]
assert [s["id"] for s in d["steps"]] == g["new_ids"]
assert d["stop"] == "length" and d["temperature"] == 0 and d["n_layers"] == 2
assert d["weights"] == "fp32", d["weights"]   # auto, resolved: the tiny file holds no block type
for i, s in enumerate(d["steps"]):
    assert s["index"] == i and s["eos"] is False and s["text"] is None
    assert len(s["top"]) == 3 and s["top"][0]["id"] == s["id"]
    p = [t["p"] for t in s["top"]]
    assert p == sorted(p, reverse=True) and 0 < p[0] <= 1 and sum(p) <= 1 + 1e-6
    assert "attention" not in s
PY
)
if [ $? = 0 ]; then ok "tiny --json: prompt, steps, top tokens"; else nok "tiny --json" "$msg
$(cat "$tmp/err")"; fi

# 4. tiny -o: every step's attention rows, each summing to 1, over a growing context
"$cli" generate -m "$tiny" --ids 5,6,7 --max-tokens 5 -o "$tmp/rows.json" >"$tmp/out" 2>"$tmp/err"
msg=$(python3 - "$tmp/rows.json" <<'PY' 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["steps"]) == 5
for i, s in enumerate(d["steps"]):
    a = s["attention"]
    assert len(a) == 2 and all(len(l) == 4 for l in a), "layers x heads"
    for l in a:
        for row in l:
            assert len(row) == 3 + i, (i, len(row))
            assert abs(sum(row) - 1) < 1e-5
PY
)
if [ $? = 0 ] && [ "$(wc -w <"$tmp/out")" = 5 ]; then ok "tiny -o: attention rows of every step, text on stdout"
else nok "tiny -o" "$msg
$(cat "$tmp/out" "$tmp/err")"; fi

# 5. -o - : the JSON with rows on standard output, and no text mixed in
msg=$("$cli" generate -m "$tiny" --ids 5,6 --max-tokens 2 -o - 2>&1 | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert [len(s["attention"][0][0]) for s in d["steps"]] == [2, 3]' 2>&1)
if [ $? = 0 ]; then ok "-o -: the JSON alone on standard output"; else nok "-o -" "$msg"; fi

# 6. a tiny seeded sample repeats with its seed and stays in range
a=$("$cli" generate -m "$tiny" --ids 1,2,3 -t 1.5 --top-k 20 --seed 9 --max-tokens 30 2>&1)
b=$("$cli" generate -m "$tiny" --ids 1,2,3 -t 1.5 --top-k 20 --seed 9 --max-tokens 30 2>&1)
c=$("$cli" generate -m "$tiny" --ids 1,2,3 -t 1.5 --top-k 20 --seed 10 --max-tokens 30 2>&1)
if [ "$a" = "$b" ] && [ "$a" != "$c" ] && [ "$(wc -w <<<"$a")" = 30 ]; then
  ok "sampling: same seed, same tokens; another seed, others"
else nok "sampling with a seed" "$a
$b
$c"; fi

# 7-14. refusals: a message, a non-zero exit, no crash, nothing on stdout
refuse() {
  local what=$1 want=$2; shift 2
  "$cli" generate "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q -- "$want" "$tmp/err" && [ ! -s "$tmp/out" ]; then
    ok "refused: $what"
  else nok "refused: $what (exit $rc)" "$(cat "$tmp/err" "$tmp/out")"; fi
}
refuse "--top-p 2" "top-p 2" -m "$tiny" --top-p 2 --ids 1
refuse "--temperature -1" "temperature -1" -m "$tiny" --temperature -1 --ids 1
refuse "--max-tokens 0" "max-tokens 0" -m "$tiny" --max-tokens 0 --ids 1
refuse "--top-k -1" "top-k -1" -m "$tiny" --top-k -1 --ids 1
refuse "an id out of range" "not a token id" -m "$tiny" --ids 1,64
refuse "text for a model without a tokenizer" "given as ids" -m "$tiny" hello
refuse "prompt given twice" "give the prompt once" -m "$tiny" --ids 1 hello
refuse "--system without --chat" "needs --chat" -m "$tiny" --system "Be brief." --ids 1
refuse "--weights q4" "not one of auto, fp32, file, int8" -m "$tiny" --weights q4 --ids 1
refuse "--weights file for a file with no block types" "holds no weight as Q8_0, Q4_0 or Q4_1" \
  -m "$tiny" --weights file --ids 1

# int8 step weights: the same number of tokens, and a note with their
# deviation from fp32 measured on the tokens generated
"$cli" generate -m "$tiny" --ids "$(golden tiny.json ids-b prompt_ids)" --max-tokens 12 --weights int8 \
  --json >"$tmp/int8.json" 2>"$tmp/err"
rc=$?
msg=$(python3 - "$tmp/int8.json" "$tmp/err" <<'PY' 2>&1
import json, re, sys
d = json.load(open(sys.argv[1]))
err = open(sys.argv[2]).read()
assert d["weights"] == "int8" and len(d["generated_ids"]) == 12, d["generated_ids"]
m = re.search(r"weights int8 against fp32 on the same (\d+) tokens: logits differ by at most "
              r"(\S+) \(fp32's span (\S+)\), attention rows by at most (\S+); the most likely "
              r"next token agrees at (\d+) of (\d+) steps", err)
assert m, err
steps, diff, span, rows, agree, of = m.groups()
assert int(steps) == 11 and int(of) == 11 and int(agree) <= 11
assert 0 < float(diff) < 0.05 * float(span) and 0 < float(rows) < 0.1
PY
)
if [ $rc = 0 ] && [ -z "$(grep -v 'note: weights int8' "$tmp/err")" ]; then
  if [ -z "$msg" ]; then ok "--weights int8: 12 tokens, its deviation from fp32 noted"
  else nok "--weights int8" "$msg"; fi
else nok "--weights int8 (exit $rc)" "$(cat "$tmp/err")"; fi
# --ablate: heads switched off in the prompt and every step; each token is
# the one \`ablate\` (a whole forward pass with those heads replaced) finds
# most likely after the tokens before it
spec=1:1:uniform,2:2:mean,2:3
"$cli" generate -m "$tiny" --ablate $spec --ids 5,6,7,8 --max-tokens 6 --json >"$tmp/abl.json" 2>"$tmp/err"
rc=$?
msg=$(python3 - "$tmp/abl.json" "$cli" "$tiny" "$spec" <<'PY' 2>&1
import json, subprocess, sys
d = json.load(open(sys.argv[1]))
assert d["ablated"] == [{"layer": 1, "head": 1, "mode": "uniform"}, {"layer": 2, "head": 2, "mode": "mean"},
                        {"layer": 2, "head": 3, "mode": "zero"}], d["ablated"]
ids = [5, 6, 7, 8]
for new in d["generated_ids"]:
    out = subprocess.run([sys.argv[2], "ablate", "-m", sys.argv[3], "--ablate", sys.argv[4], "--json",
                          "--ids", ",".join(map(str, ids))], capture_output=True, text=True, check=True)
    want = json.loads(out.stdout)["argmax_after"]["id"]
    assert new == want, (ids, new, want)
    ids.append(new)
PY
)
if [ $rc = 0 ] && [ -z "$msg" ]; then ok "--ablate: every step the ablated model's most likely token"
else nok "--ablate (exit $rc)" "$msg $(cat "$tmp/err")"; fi
refuse "--ablate of a head the model lacks" "--ablate" -m "$tiny" --ablate 9:1 --ids 1

# bench on a decoder of 64 positions: the default 256-token context shrinks
# to what fits, with a note; one asked for by name that does not fit is refused
"$cli" bench -m "$tiny" --lengths 8 --min-time 0 --runs 1 --warmup 0 --json >"$tmp/bench.json" 2>"$tmp/err"
rc=$?
ctx=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["decode"]["context"])' \
  "$tmp/bench.json" 2>&1)
if [ $rc = 0 ] && [ "$ctx" = 32 ] && grep -q "decoding timed after 32 tokens: this model has 64 positions" "$tmp/err"
then ok "bench: the default decoding context fits the model's positions"
else nok "bench: the default decoding context (exit $rc, context $ctx)" "$(cat "$tmp/err")"; fi
"$cli" bench -m "$tiny" --lengths 8 --min-time 0 --runs 1 --decode-context 60 >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc = 2 ] && grep -q "decode-context 60 + --decode-steps 32 is more than this model's 64 positions" "$tmp/err"
then ok "bench: a decoding context that does not fit is refused"
else nok "bench: --decode-context 60 (exit $rc)" "$(cat "$tmp/err")"; fi
if [ $have_bert = 1 ]; then
  refuse "an encoder" "not a decoder" -m "$bert" --json hello
else skip "refused: an encoder" "the default model is not downloaded"; fi

# 15-20. SmolLM2: the goldens' text, --chat stopping at <|im_end|>, --json, -o
if [ $have_smol = 1 ]; then
  for case in bridges moon; do
    "$cli" generate -m "$smol" --max-tokens 40 "$(golden smollm2.json $case prompt)" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    golden smollm2.json $case text >"$tmp/want"; echo >>"$tmp/want"
    if [ $rc = 0 ] && cmp -s "$tmp/out" "$tmp/want"; then ok "SmolLM2 $case: greedy text as transformers'"
    else nok "SmolLM2 $case: greedy text" "$(diff "$tmp/want" "$tmp/out"; cat "$tmp/err")"; fi
  done
  # The steps above read the file's own blocks (what a GGUF decoder picks);
  # the fp32 copies give the same text.
  "$cli" generate -m "$smol" --max-tokens 40 --weights fp32 "$(golden smollm2.json bridges prompt)" \
    >"$tmp/out" 2>"$tmp/err"
  rc=$?
  golden smollm2.json bridges text >"$tmp/want"; echo >>"$tmp/want"
  if [ $rc = 0 ] && cmp -s "$tmp/out" "$tmp/want"; then ok "SmolLM2 bridges, --weights fp32: the same text"
  else nok "SmolLM2 bridges, --weights fp32" "$(diff "$tmp/want" "$tmp/out"; cat "$tmp/err")"; fi
  "$cli" generate -m "$smol" --chat "$(golden smollm2.json chat question)" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  golden smollm2.json chat text >"$tmp/want"; echo >>"$tmp/want"
  if [ $rc = 0 ] && cmp -s "$tmp/out" "$tmp/want"; then ok "SmolLM2 --chat: the answer, ended by <|im_end|>"
  else nok "SmolLM2 --chat" "$(diff "$tmp/want" "$tmp/out"; cat "$tmp/err")"; fi
  "$cli" generate -m "$smol" --chat --json "$(golden smollm2.json chat question)" >"$tmp/chat.json" 2>"$tmp/err"
  msg=$(python3 - "$tmp/chat.json" "$gold/smollm2.json" <<'PY' 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
g = next(c for c in json.load(open(sys.argv[2]))["cases"] if c["name"] == "chat")
assert d["chat"] is True and d["prompt"] == g["prompt"] and d["prompt_ids"] == g["prompt_ids"]
assert d["prompt_tokens"][0] == "<|im_start|>"
assert d["generated_ids"] == g["new_ids"] and d["stop"] == "eos" and d["eos_id"] == 2
assert d["weights"] == "file", d["weights"]   # auto, resolved: Q4_1 and Q8_0 blocks read as they are
assert d["text"] == g["text"] == "".join(s["text"] for s in d["steps"])
assert d["steps"][-1]["eos"] is True and d["steps"][-1]["token"] == "<|im_end|>"
assert all(len(s["top"]) == 5 and s["top"][0]["id"] == s["id"] for s in d["steps"])
PY
)
  if [ $? = 0 ]; then ok "SmolLM2 --chat --json: ids, tokens, text, stop"; else nok "SmolLM2 --chat --json" "$msg"; fi
  "$cli" generate -m "$smol" --max-tokens 3 -o "$tmp/smol.json" "The sky is" >"$tmp/out" 2>"$tmp/err"
  msg=$(python3 - "$tmp/smol.json" "$tmp/out" <<'PY' 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
n = len(d["prompt_ids"])
assert [len(s["attention"]) for s in d["steps"]] == [30] * 3
assert [len(s["attention"][0][0]) for s in d["steps"]] == [n, n + 1, n + 2]
assert all(len(l) == 9 for s in d["steps"] for l in s["attention"])
assert open(sys.argv[2]).read() == d["text"] + "\n"
PY
)
  if [ $? = 0 ]; then ok "SmolLM2 -o: 30 layers x 9 heads of rows per step, text on stdout"; else nok "SmolLM2 -o" "$msg"; fi
  # Characters of several tokens: a piece waits ("") until its character is whole.
  "$cli" generate -m "$smol" --max-tokens 12 --json "日本の首都は" >"$tmp/ja.json" 2>"$tmp/err"
  msg=$(python3 - "$tmp/ja.json" <<'PY' 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
pieces = [s["text"] for s in d["steps"]]
assert "".join(pieces) == d["text"], pieces
assert all("\ufffd" not in p for p in pieces[:-1]), pieces
assert "" in pieces, pieces
print(pieces)
PY
)
  if [ $? = 0 ]; then ok "SmolLM2: text pieces wait for whole characters ($msg)"; else nok "SmolLM2: text pieces" "$msg"; fi
  # --chat's prompt as transformers' apply_chat_template writes it
  # (tests/data/generate/chat.json, tools/make-chat-goldens.py): the
  # template's default system turn, or --system's
  for case in default-system multi-line system system-unicode system-empty; do
    sys_args=()
    if [ "$(golden chat.json $case system)" != None ]; then
      sys_args=(--system "$(golden chat.json $case system)")
    fi
    "$cli" generate -m "$smol" --chat "${sys_args[@]}" --json --max-tokens 1 \
      "$(golden chat.json $case user)" >"$tmp/c.json" 2>"$tmp/err"
    msg=$(python3 - "$tmp/c.json" "$gold/chat.json" "$case" <<'PY' 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
g = next(c for c in json.load(open(sys.argv[2]))["cases"] if c["name"] == sys.argv[3])
assert d["prompt"] == g["text"], (d["prompt"], g["text"])
assert d["prompt_ids"] == g["ids"], (d["prompt_ids"], g["ids"])
assert d["system"] == (g["system"] if g["system"] is not None else
                       "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
PY
)
    if [ $? = 0 ]; then ok "SmolLM2 --chat $case: apply_chat_template's ids"
    else nok "SmolLM2 --chat $case" "$msg
$(cat "$tmp/err")"; fi
  done
else
  for t in "SmolLM2 bridges" "SmolLM2 moon" "SmolLM2 bridges, --weights fp32" "SmolLM2 --chat" "SmolLM2 --chat --json" "SmolLM2 -o" "SmolLM2: text pieces" \
           "SmolLM2 --chat default-system" "SmolLM2 --chat multi-line" "SmolLM2 --chat system" \
           "SmolLM2 --chat system-unicode" "SmolLM2 --chat system-empty"; do
    skip "$t" "the SmolLM2 GGUF is not downloaded ($smol)"
  done
fi

echo "1..$n"
[ $fails = 0 ]
