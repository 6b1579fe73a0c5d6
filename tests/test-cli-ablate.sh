#!/usr/bin/env bash
# test-cli-ablate.sh — attnscope-cli ablate, and --ablate in dump and stats,
# end to end (definitions: model/as-ablation.h), TAP output.
# Usage: test-cli-ablate.sh CLI
set -u
cli=$1
data=${AS_TEST_DATA:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/tap.sh"

tiny=$data/llama/tiny.gguf
ids=3,17,5,9,22,3,17,5
have_encoder=0
[ -f "${ATTNSCOPE_MODEL_DIR:-}/model.safetensors" ] && have_encoder=1
sentence="The cat sat on the mat."

# 1. The probabilities "before" are the model's own next-token
#    distribution: the logit lens's last layer at the last token.
if "$cli" ablate -m "$tiny" --ids "$ids" --ablate 2:3 --json -k 5 -o "$tmp/e.json" 2>"$tmp/err" &&
   "$cli" lens -m "$tiny" --ids "$ids" --layer 2 --json -o "$tmp/lens.json" 2>>"$tmp/err" &&
   msg=$(python3 - "$tmp/e.json" "$tmp/lens.json" <<'PY' 2>&1
import json, sys
e, lens = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert e["measure"] == "next-token" and e["kl"] > 0, e
assert e["ablated"] == [{"layer": 2, "head": 3, "mode": "zero"}], e["ablated"]
last = lens["layers"][0]["positions"][-1]
assert [t["id"] for t in e["top"]] == last["ids"], ([t["id"] for t in e["top"]], last["ids"])
worst = max(abs(t["before"] - p) for t, p in zip(e["top"], last["probs"]))
assert worst <= 1e-6, worst
assert any(abs(t["before"] - t["after"]) > 1e-6 for t in e["top"])
print("KL %.3g, max |before - lens| %.2g" % (e["kl"], worst))
PY
); then ok "ablate --json: before = the lens's last layer, and ablation changes it ($msg)"
else nok "ablate --json on tiny.gguf" "$(cat "$tmp/err"; echo "${msg:-}")"; fi

# 2. Every row of the ranked table equals that head ablated alone.
if "$cli" ablate -m "$tiny" --ids "$ids" --rank-heads all --mode uniform --json -o "$tmp/rank.json" 2>"$tmp/err" &&
   msg=$(python3 - "$cli" "$tiny" "$ids" "$tmp/rank.json" <<'PY' 2>&1
import json, subprocess, sys
cli, model, ids, path = sys.argv[1:]
r = json.load(open(path))
assert r["mode"] == "uniform" and len(r["heads"]) == 2 * 4, len(r["heads"])
scores = [h["score"] for h in r["heads"]]
assert scores == sorted(scores, reverse=True)
assert [h["rank"] for h in r["heads"]] == list(range(1, 9))
for h in r["heads"]:
    out = subprocess.run([cli, "ablate", "-m", model, "--ids", ids, "--json", "--ablate",
                          "%d:%d:uniform" % (h["layer"], h["head"])],
                         capture_output=True, text=True, check=True).stdout
    e = json.loads(out)
    assert e["kl"] == h["kl"] == h["score"], (h, e["kl"])
    assert e["argmax_after"]["id"] == h["argmax_after"]["id"]
print("8 heads")
PY
); then ok "ablate --rank-heads all: each row equals its own run ($msg)"
else nok "ablate --rank-heads on tiny.gguf" "$(cat "$tmp/err"; echo "${msg:-}")"; fi

# 3. The table form says the same as the JSON.
if "$cli" ablate -m "$tiny" --ids "$ids" --rank-heads 1 >"$tmp/rank.txt" 2>"$tmp/err" &&
   "$cli" ablate -m "$tiny" --ids "$ids" --rank-heads 1 -f json -o "$tmp/rank1.json" 2>>"$tmp/err" &&
   msg=$(python3 - "$tmp/rank.txt" "$tmp/rank1.json" <<'PY' 2>&1
import json, re, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines[0].startswith("heads ablated one at a time (zero)"), lines[0]
rows = [re.match(r"\s*(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+#(\d+)$", l) for l in lines[2:]]
assert all(rows) and len(rows) == 4, lines
j = json.load(open(sys.argv[2]))["heads"]
for m, h in zip(rows, j):
    assert (int(m.group(2)), int(m.group(3))) == (h["layer"], h["head"]) == (1, h["head"])
    assert abs(float(m.group(4)) - h["kl"]) <= 1e-5 * max(h["kl"], 1e-30) + 1e-12
print("4 rows")
PY
); then ok "ablate --rank-heads 1 table = its JSON ($msg)"
else nok "ablate table" "$(cat "$tmp/err"; echo "${msg:-}")"; fi

# 4. dump --ablate: the ablated head's pattern is the replacement (uniform:
#    1/(i+1) in a causal model; zero: 0), the layers before are unchanged.
if [ $have_encoder = 1 ]; then
  if "$cli" dump --ablate 2:3:uniform,2:5 --device cpu "$sentence" -o "$tmp/d1.json" 2>"$tmp/err" &&
     "$cli" dump --device cpu "$sentence" -o "$tmp/d0.json" 2>>"$tmp/err" &&
     msg=$(python3 - "$tmp/d0.json" "$tmp/d1.json" <<'PY' 2>&1
import json, sys
d0, d1 = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
a0, a1, n = d0["attention"], d1["attention"], d1["n_tokens"]
assert a0[0] == a1[0], "layer 1 changed"
for h in range(d1["n_heads"]):
    if h not in (2, 4):
        assert a0[1][h] == a1[1][h], h
assert all(abs(p - 1 / n) <= 1e-7 for row in a1[1][2] for p in row)
assert all(p == 0 for row in a1[1][4] for p in row)
assert a0[2] != a1[2]
print("%d tokens" % n)
PY
); then ok "dump --ablate: uniform is 1/n, zero is 0, earlier layers unchanged ($msg)"
  else nok "dump --ablate on the encoder" "$(cat "$tmp/err"; echo "${msg:-}")"; fi
else skip "dump --ablate on the encoder" "all-MiniLM-L6-v2 not downloaded"; fi

# 5. stats --ablate: a uniform head's confidence (mean row maximum) is the
#    mean over lines of 1/tokens.
if [ $have_encoder = 1 ]; then
  printf 'The cat sat on the mat.\nA dog barked loudly at night.\n' >"$tmp/corpus.txt"
  if "$cli" stats --corpus "$tmp/corpus.txt" --ablate 1:2:uniform -f json -o "$tmp/s.json" 2>"$tmp/err" &&
     "$cli" tokenize -f json "The cat sat on the mat." >"$tmp/t1.json" 2>>"$tmp/err" &&
     "$cli" tokenize -f json "A dog barked loudly at night." >"$tmp/t2.json" 2>>"$tmp/err" &&
     msg=$(python3 - "$tmp/s.json" "$tmp/t1.json" "$tmp/t2.json" <<'PY' 2>&1
import json, sys
s = json.load(open(sys.argv[1]))
lens = [len(json.load(open(p))["tokens"]) for p in sys.argv[2:]]
want = sum(1 / k for k in lens) / len(lens)
row = [h for h in s["heads"] if h["layer"] == 1 and h["head"] == 2][0]
assert abs(row["confidence"] - want) <= 1e-6, (row["confidence"], want)
other = [h for h in s["heads"] if h["layer"] == 1 and h["head"] == 1][0]
assert abs(other["confidence"] - want) > 1e-3
print("confidence %.6f = mean 1/n over %s tokens" % (want, lens))
PY
); then ok "stats --ablate: the uniform head's confidence is 1/n ($msg)"
  else nok "stats --ablate" "$(cat "$tmp/err"; echo "${msg:-}")"; fi

  # 6. an encoder is measured by the cosine of its sentence embeddings
  if "$cli" ablate --ablate 1:1,3:4:mean --json "$sentence" -o "$tmp/enc.json" 2>"$tmp/err" &&
     python3 -c "
import json, sys
e = json.load(open(sys.argv[1]))
assert e['measure'] == 'embedding' and 0.5 < e['cosine'] < 1, e
assert e['ablated'][1] == {'layer': 3, 'head': 4, 'mode': 'mean'}
" "$tmp/enc.json" 2>>"$tmp/err"; then ok "ablate on the encoder: embedding cosine below 1"
  else nok "ablate on the encoder" "$(cat "$tmp/err")"; fi
else
  skip "stats --ablate" "all-MiniLM-L6-v2 not downloaded"
  skip "ablate on the encoder" "all-MiniLM-L6-v2 not downloaded"
fi

# 7. Usage errors exit 2 with a message naming the problem.
check_usage () {
  local what=$1 want=$2
  shift 2
  "$cli" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ $rc = 2 ] && grep -q -- "$want" "$tmp/err" && [ ! -s "$tmp/out" ]; then ok "refused: $what"
  else nok "refused: $what (exit $rc)" "$(cat "$tmp/err")"; fi
}
check_usage "layer 0" "cannot ablate '0:1'" ablate -m "$tiny" --ids "$ids" --ablate 0:1
check_usage "head past the model's" "HEAD 1 to 4" ablate -m "$tiny" --ids "$ids" --ablate 1:5
check_usage "unknown mode" "zero|uniform|mean" ablate -m "$tiny" --ids "$ids" --ablate 1:1:half
check_usage "neither --ablate nor --rank-heads" "either --ablate" ablate -m "$tiny" --ids "$ids"
check_usage "both --ablate and --rank-heads" "either --ablate" ablate -m "$tiny" --ids "$ids" --ablate 1:1 --rank-heads 1
check_usage "--rank-heads 3 of 2 layers" "1 to 2" ablate -m "$tiny" --ids "$ids" --rank-heads 3
check_usage "--mode without --rank-heads" "goes with --rank-heads" ablate -m "$tiny" --ids "$ids" --ablate 1:1 --mode mean
check_usage "a bad --mode" "not one of zero" ablate -m "$tiny" --ids "$ids" --rank-heads 1 --mode half
check_usage "dump --ablate 9:1" "--ablate" dump -m "$tiny" --ablate 9:1 "x"

echo "1..$n"
[ $fails = 0 ]
