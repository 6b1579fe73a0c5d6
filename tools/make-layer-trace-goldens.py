#!/usr/bin/env python3
"""Golden fixture for the layer trace (model/as-layer-trace.h,
tests/test-layer-trace.c).

Run by a developer, never by CI (CI compares against the committed file):

    ~/.cache/attnscope/bench-venv/bin/python tools/make-layer-trace-goldens.py

Runs one short sentence through the tiny seeded encoder and decoder in
tests/data (bert-mlm-tiny: post-norm BERT; llama-tiny: pre-norm Llama with
grouped-query heads; gpt2-tiny: pre-norm GPT-2, tanh GELU) with transformers, eager attention, fp32, on the CPU,
and catches every stage of the last layer and of the embeddings with forward
hooks on the modules that compute them. A few rows and columns of each stage
are kept, so the file stays small:

  tests/data/layer-trace-goldens.json
    {"versions": {...}, "models": [{"dir", "sentence", "ids", "type_ids",
     "layer", "rows", "cols", "stages": {NAME: [[row of cols] per row]},
     "attn": [[[row of every key] per row] per head]}]}

NAME is the AsLayerTrace field the values belong to.
"""
import json
import os

import torch
import transformers
from transformers import AutoModel, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(ROOT, "tests", "data")
OUT = os.path.join(DATA, "layer-trace-goldens.json")
SENTENCE = "the cat sat on the mat"


def short(x):
    """X to 7 significant digits: ample for a 1e-4 comparison, half the text."""
    return float(f"{float(x):.7g}")


def rows_cols(n, width):
    """The rows and columns kept: the first, a middle and the last."""
    rows = sorted({0, n // 2, n - 1})
    cols = sorted({0, 1, 2, width // 2, width - 1})
    return rows, cols


class Catcher:
    """Forward hooks that keep a module's input or output, first row of the
    batch, as [n, width]."""

    def __init__(self):
        self.kept = {}
        self.handles = []

    @staticmethod
    def _tensor(x):
        while isinstance(x, (tuple, list)):
            x = x[0]
        return x.detach()[0].reshape(x.shape[1], -1).float()

    def output(self, name, module):
        def hook(mod, args, out):
            self.kept[name] = self._tensor(out)
        self.handles.append(module.register_forward_hook(hook))

    def input(self, name, module):
        def hook(mod, args):
            self.kept[name] = self._tensor(args[0])
        self.handles.append(module.register_forward_pre_hook(hook))


def bert_hooks(c, model, L):
    emb = model.embeddings
    c.output("token_embed", emb.word_embeddings)
    c.output("position_embed", emb.position_embeddings)
    c.output("type_embed", emb.token_type_embeddings)
    c.input("embed_sum", emb.LayerNorm)
    c.output("embed_out", emb.LayerNorm)
    layer = model.encoder.layer[L]
    c.input("x_in", layer)
    c.input("attn_in", layer.attention.self)
    c.input("context", layer.attention.output.dense)
    c.output("attn_out", layer.attention.output.dense)
    c.input("resid1", layer.attention.output.LayerNorm)
    c.output("h1", layer.attention.output.LayerNorm)
    c.input("ffn_in", layer.intermediate.dense)
    c.output("ffn_pre", layer.intermediate.dense)
    c.output("ffn_act", layer.intermediate)
    c.output("ffn_out", layer.output.dense)
    c.input("resid2", layer.output.LayerNorm)
    c.output("out", layer.output.LayerNorm)


def llama_hooks(c, model, L):
    c.output("token_embed", model.embed_tokens)
    layer = model.layers[L]
    c.input("x_in", layer)
    c.output("attn_in", layer.input_layernorm)
    c.input("context", layer.self_attn.o_proj)
    c.output("attn_out", layer.self_attn.o_proj)
    c.input("resid1", layer.post_attention_layernorm)
    c.output("ffn_in", layer.post_attention_layernorm)
    c.output("ffn_pre", layer.mlp.gate_proj)
    c.output("ffn_up", layer.mlp.up_proj)
    c.input("ffn_act", layer.mlp.down_proj)
    c.output("ffn_out", layer.mlp.down_proj)
    c.output("out", layer)


def gpt2_hooks(c, model, L):
    c.output("token_embed", model.wte)
    c.output("position_embed", model.wpe)
    c.input("embed_sum", model.drop)
    layer = model.h[L]
    c.input("x_in", layer)
    c.output("attn_in", layer.ln_1)
    c.input("context", layer.attn.c_proj)
    c.output("attn_out", layer.attn.c_proj)
    c.input("resid1", layer.ln_2)
    c.output("ffn_in", layer.ln_2)
    c.output("ffn_pre", layer.mlp.c_fc)
    c.output("ffn_act", layer.mlp.act)
    c.output("ffn_out", layer.mlp.c_proj)
    c.output("out", layer)


def run(folder, hooks):
    path = os.path.join(DATA, folder)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, attn_implementation="eager",
                                      dtype=torch.float32).eval()
    L = model.config.num_hidden_layers - 1
    enc = tok(SENTENCE, return_tensors="pt")
    ids = enc["input_ids"]
    type_ids = enc.get("token_type_ids", torch.zeros_like(ids))
    c = Catcher()
    hooks(c, model, L)
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    for h in c.handles:
        h.remove()
    n = ids.shape[1]
    stages = {}
    for name, t in sorted(c.kept.items()):
        rows, cols = rows_cols(n, t.shape[1])
        stages[name] = [[short(t[r, k]) for k in cols] for r in rows]
    attn = out.attentions[L][0]                       # [heads, n, n]
    rows, _ = rows_cols(n, 2)
    return {
        "dir": folder,
        "sentence": SENTENCE,
        "ids": ids[0].tolist(),
        "type_ids": type_ids[0].tolist(),
        "layer": L,
        "rows": rows,
        "cols": {name: rows_cols(n, t.shape[1])[1] for name, t in sorted(c.kept.items())},
        "stages": stages,
        "attn": [[[short(attn[h, r, j]) for j in range(n)] for r in rows]
                 for h in range(attn.shape[0])],
    }


def main():
    torch.manual_seed(0)
    doc = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "models": [run("bert-mlm-tiny", lambda c, m, L: bert_hooks(c, m, L)),
                   run("llama-tiny", lambda c, m, L: llama_hooks(c, m, L)),
                   run("gpt2-tiny", lambda c, m, L: gpt2_hooks(c, m, L))],
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
