#!/usr/bin/env python3
"""Golden fixtures for the logit lens and the attention-sink share
(tests/test-logit-lens.c, tests/test-cli-lens.sh).

Run by a developer, never by CI (CI compares against the committed files):

    ~/.cache/attnscope/bench-venv/bin/python tools/make-lens-goldens.py

Loads each decoder the way tools/make-llama-goldens.py does (transformers'
AutoModelForCausalLM from the GGUF: de-quantised to fp32, eager attention,
on the CPU) and runs one input with output_hidden_states and
output_attentions:

  tiny     tests/data/llama/tiny.gguf, the seeded two-layer Llama, on the ids
           of tests/data/llama/tiny.json (its vocabulary is "t0".."t63" and
           has no merges, so it runs on ids only)
  smollm2  data/models/SmolLM2-135M-Instruct (Q4_1), one short sentence
           tokenized by transformers from the same GGUF

The lens of layer l (1-based, as the CLI counts) is
softmax(lm_head(norm(h_l))) where h_l = hidden_states[l], the residual
stream after decoder layer l. transformers' last entry, hidden_states[L], is
already the final norm's output (LlamaModel replaces the last layer's
output with norm(h) before recording it; checked below against
last_hidden_state), so the last layer's lens is the model's own logits
(out.logits) and norm is not applied twice. The script asserts both facts
and records them in the file.

The attention-sink share of a head (model/as-head-stats.h) is the mean over
query rows of the attention on key 0: (1/n) sum_i A[i, 0], from
output_attentions in float64.

Writes tests/data/lens/NAME.json: ids, n, k, per layer the top-k ids and
probabilities for every position, and sink[layer][head].
"""
import json
import os

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LLAMA_DATA = os.path.join(ROOT, "tests", "data", "llama")
SMOL_DIR = os.path.join(ROOT, "data", "models", "SmolLM2-135M-Instruct")
SMOL_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT_DIR = os.path.join(ROOT, "tests", "data", "lens")
K = 5
SENTENCE = "The cat sat on the mat."


def load(folder, name):
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    return model


def lens_goldens(model, ids):
    input_ids = torch.tensor([ids], dtype=torch.long)
    with torch.no_grad():
        out = model(input_ids, output_hidden_states=True, output_attentions=True,
                    use_cache=False)
        base = model.model(input_ids, use_cache=False)
        hs = out.hidden_states
        L = len(hs) - 1
        # The last entry is already normed: it equals last_hidden_state, and
        # lm_head of it gives the logits.
        last_is_normed = bool(torch.allclose(hs[L], base.last_hidden_state, atol=1e-6))
        assert last_is_normed, "hidden_states[-1] is not last_hidden_state"
        renormed = model.model.norm(hs[L])
        double_norm_diff = float((renormed - hs[L]).abs().max())
        layers = []
        for l in range(1, L + 1):
            if l == L:
                logits = out.logits[0]
            else:
                logits = model.lm_head(model.model.norm(hs[l]))[0]
            probs = torch.softmax(logits.double(), dim=-1)
            top = torch.topk(probs, K + 1, dim=-1)
            # A near-tie at rank K could swap with rank K + 1 under another
            # summation order; record the margin so the test can tell.
            margin = float((top.values[:, K - 1] - top.values[:, K]).min())
            layers.append({
                "layer": l,
                "top_ids": top.indices[:, :K].tolist(),
                "top_probs": top.values[:, :K].tolist(),
                "min_margin_at_k": margin,
            })
        attn = torch.stack([a[0] for a in out.attentions]).double()   # [L, heads, n, n]
        sink = attn[:, :, :, 0].mean(dim=-1)                          # [L, heads]
    return {
        "ids": ids,
        "n": len(ids),
        "k": K,
        "n_layers": L,
        "last_hidden_state_is_normed": last_is_normed,
        "renorm_changes_last_by": double_norm_diff,
        "layers": layers,
        "sink": sink.tolist(),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }


def write(name, data):
    os.makedirs(OUT_DIR, exist_ok=True)
    path = os.path.join(OUT_DIR, name + ".json")
    with open(path, "w") as f:
        json.dump(data, f)
        f.write("\n")
    top1 = [row[0] for row in data["layers"][-1]["top_ids"]]
    print("%s: %d tokens, %d layers, last-layer top-1 %s, min margin at k %.3g, "
          "re-norm of the last entry moves it by %.3g"
          % (name, data["n"], data["n_layers"], top1,
             min(l["min_margin_at_k"] for l in data["layers"]),
             data["renorm_changes_last_by"]))


def main():
    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    with open(os.path.join(LLAMA_DATA, "tiny.json")) as f:
        tiny_ids = json.load(f)["ids"]
    data = lens_goldens(load(LLAMA_DATA, "tiny.gguf"), tiny_ids)
    data["model"] = "tests/data/llama/tiny.gguf"
    write("tiny", data)

    if not os.path.exists(os.path.join(SMOL_DIR, SMOL_GGUF)):
        print("smollm2: %s is missing (run tools/setup); skipped" % SMOL_GGUF)
        return
    tok = AutoTokenizer.from_pretrained(SMOL_DIR, gguf_file=SMOL_GGUF)
    ids = tok(SENTENCE, add_special_tokens=True)["input_ids"]
    data = lens_goldens(load(SMOL_DIR, SMOL_GGUF), ids)
    data["model"] = SMOL_GGUF
    data["sentence"] = SENTENCE
    data["tokens"] = [tok.decode([i]) for i in ids]
    data["top1_text"] = [[tok.decode([row[0]]) for row in l["top_ids"]] for l in data["layers"]]
    write("smollm2", data)


if __name__ == "__main__":
    main()
