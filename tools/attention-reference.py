#!/usr/bin/env python3
"""Reference numbers for attention as shown (model/as-shown.h), from NumPy.

Computed from what attnscope-cli hands out (the attention tensor of
`dump --format npy` and the tokens of `tokenize --format json`), with none
of AttnScope's aggregation code, so tests/test-shown.c can check the app's
head means and maxima, rollout, word merging, hidden specials and sentence
restriction against an independent implementation:

    tools/attention-reference.py [--cli build/app/attnscope-cli] [-o tests/data/shown-reference.json]

Needs NumPy (Debian: apt install python3-numpy; run it with /usr/bin/python3
if another python3 comes first). Writes a small JSON file that is committed,
so the test itself needs no Python.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = [
    {"name": "unaffable", "text": "Unaffable people are rarely liked.", "pair": None},
    {"name": "pair", "text": "The unaffable keeper didn't smile.", "pair": "Nobody [MASK] him much."},
]

# (aggregate, layer, head, words, hide_special, renormalise, sentence); layers
# and heads 0-based as in the engine.
SPECS = [
    ("head", 1, 4, False, False, True, "all"),
    ("mean", 2, 0, False, False, True, "all"),
    ("max", 2, 0, False, False, True, "all"),
    ("rollout", 0, 0, False, False, True, "all"),
    ("rollout", 2, 0, False, False, True, "all"),
    ("rollout", 5, 0, False, False, True, "all"),
    ("head", 1, 4, True, False, True, "all"),
    ("rollout", 2, 0, True, False, True, "all"),
    ("mean", 3, 0, True, True, True, "all"),
    ("max", 3, 0, True, True, True, "all"),
    ("rollout", 5, 0, True, True, False, "all"),
]
PAIR_SPECS = [
    ("rollout", 2, 0, True, True, True, "b"),
    ("mean", 4, 0, False, True, True, "a"),
    ("head", 0, 2, True, False, False, "b"),
]


def run_cli(cli, model, args):
    cmd = [cli] + args[:1] + (["-m", model] if model else []) + args[1:]
    return subprocess.run(cmd, check=True, capture_output=True).stdout


def aggregate(attn, kind, layer, head):
    """[n, n] in float64 from attn [layers, heads, n, n]."""
    a = attn.astype(np.float64)
    if kind == "head":
        return a[layer, head]
    if kind == "mean":
        return a[layer].mean(axis=0)
    if kind == "max":
        return a[layer].max(axis=0)
    n = a.shape[-1]
    rollout = np.eye(n)
    for l in range(layer + 1):
        ahat = 0.5 * a[l].mean(axis=0) + 0.5 * np.eye(n)
        rollout = ahat @ rollout
    return rollout


def units(tokens, texts, words):
    """Lists of token indices, their labels, and whether each is [CLS]/[SEP]-class."""
    groups = []
    for i, t in enumerate(tokens):
        prev = tokens[i - 1] if i > 0 else None
        joins = (words and t["continuation"] and not t["special"]
                 and prev is not None and not prev["special"])
        if joins:
            groups[-1].append(i)
        else:
            groups.append([i])
    labels, frame = [], []
    for g in groups:
        first, last = tokens[g[0]], tokens[g[-1]]
        text = texts.get(first["sequence"])
        if words and text is not None and first["start"] >= 0:
            raw = text.encode("utf-8")[first["start"]:last["end"]]
            labels.append(raw.decode("utf-8", errors="replace"))
        else:
            labels.append(first["text"])
        frame.append(first["special"] and (first["sequence"] < 0 or first["text"] in ("[CLS]", "[SEP]")))
    return groups, labels, frame


def shown(attn, tokens, texts, spec):
    kind, layer, head, words, hide, renorm, sentence = spec
    m = aggregate(attn, kind, layer, head)
    groups, labels, frame = units(tokens, texts, words)
    n = len(tokens)
    member = np.zeros((n, len(groups)))
    for u, g in enumerate(groups):
        member[g, u] = 1.0
    sizes = member.sum(axis=0)
    # TO a word: summed over its pieces; FROM a word: averaged over them.
    merged = (member.T @ m @ member) / sizes[:, None]

    seg = [tokens[g[0]]["type_id"] for g in groups]
    want = {"all": None, "a": 0, "b": 1}[sentence]
    in_sentence = [want is None or s == want for s in seg]
    keep = [ok and not (hide and f) for ok, f in zip(in_sentence, frame)]
    if not any(keep):
        keep = in_sentence
    idx = [u for u, k in enumerate(keep) if k]
    out = merged[np.ix_(idx, idx)]
    if renorm and len(idx) < len(groups) and kind != "max":
        sums = out.sum(axis=1, keepdims=True)
        out = np.divide(out, sums, out=np.zeros_like(out), where=sums > 0)
    return {
        "aggregate": kind, "layer": layer, "head": head, "words": words,
        "hide_special": hide, "renormalise": renorm, "sentence": sentence,
        "labels": [labels[u] for u in idx],
        "rows": [groups[u] for u in idx],
        "values": [[float("%.9g" % v) for v in row] for row in out],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cli", default=os.path.join(ROOT, "build", "app", "attnscope-cli"))
    p.add_argument("--model", default=None, help="model folder (default: the CLI's default)")
    p.add_argument("-o", "--output", default=os.path.join(ROOT, "tests", "data", "shown-reference.json"))
    args = p.parse_args()

    out = {"model": os.path.basename(args.model or "all-MiniLM-L6-v2"), "cases": []}
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            pair = ["--pair", case["pair"]] if case["pair"] else []
            npy = os.path.join(tmp, case["name"] + ".npy")
            run_cli(args.cli, args.model, ["dump", "--device", "cpu", "--format", "npy", "-o", npy] + pair + [case["text"]])
            tok = json.loads(run_cli(args.cli, args.model, ["tokenize", "--format", "json"] + pair + [case["text"]]))
            attn = np.load(npy)
            tokens = tok["tokens"]
            assert attn.shape[2] == len(tokens), (attn.shape, len(tokens))
            texts = {0: case["text"], 1: case["pair"]}
            specs = SPECS + (PAIR_SPECS if case["pair"] else [])
            out["cases"].append({
                "name": case["name"], "text": case["text"], "pair": case["pair"],
                "ids": [t["id"] for t in tokens],
                "shown": [shown(attn, tokens, texts, s) for s in specs],
            })
    # One line per matrix keeps the file small and its diffs readable.
    lines = ['{"model": %s, "cases": [' % json.dumps(out["model"])]
    for c, case in enumerate(out["cases"]):
        head = {k: case[k] for k in ("name", "text", "pair", "ids")}
        lines.append(" " + json.dumps(head, ensure_ascii=False)[:-1] + ', "shown": [')
        for s, entry in enumerate(case["shown"]):
            comma = "," if s + 1 < len(case["shown"]) else ""
            lines.append("  " + json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + comma)
        lines.append(" ]}" + ("," if c + 1 < len(out["cases"]) else ""))
    lines.append("]}")
    with open(args.output, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s: %d cases, %d matrices" % (args.output, len(out["cases"]),
                                              sum(len(c["shown"]) for c in out["cases"])), file=sys.stderr)


if __name__ == "__main__":
    main()
