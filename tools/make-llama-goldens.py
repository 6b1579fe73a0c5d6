#!/usr/bin/env python3
"""Golden fixtures for the Llama reference forward (tests/test-llama.c).

Run by a developer, never by CI (CI compares against the committed files):

    ~/.cache/attnscope/bench-venv/bin/pip install gguf accelerate
    ~/.cache/attnscope/bench-venv/bin/python tools/make-llama-goldens.py

Loads the SmolLM2-135M-Instruct Q4_1 GGUF that tools/setup fetches the way
transformers does (AutoModelForCausalLM with gguf_file=: de-quantised to
fp32, Q/K rows un-permuted), eager attention, fp32, on the CPU, and runs a
few fixed sentences, tokenized by transformers' AutoTokenizer from the same
GGUF (no BOS: the file says add_bos_token false).

Writes into tests/data/llama/:
  cases.json        per case: name, sentence, ids, n; the logits' top 10 of
                    the last position (ids and values); shapes and versions
  NAME-attn.f32     [layers, heads, n, n] attention probabilities, float32 LE
  NAME-hidden.f32   [n, hidden] LlamaModel's last_hidden_state (after the
                    final RMSNorm), float32 LE

and, so that CI checks the whole GGUF path without the download, a tiny
seeded Llama (2 layers, 4 query / 2 key-value heads of 8, F16 matrices) written with
gguf.GGUFWriter the way llama.cpp's converter writes one (Q and K rows
permuted), loaded back by transformers the same way as above:
  tiny.gguf, tiny.json (ids, shapes), tiny-attn.f32, tiny-hidden.f32
  tiny-missing.gguf (no blk.1.ffn_up.weight), tiny-extra.gguf (block_count 1
  with two layers' tensors): files the loader must refuse

    python tools/make-llama-goldens.py [--only tiny]
"""
import json
import os
import sys

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODEL_DIR = os.path.join(ROOT, "data", "models", "SmolLM2-135M-Instruct")
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT_DIR = os.path.join(ROOT, "tests", "data", "llama")

# Chosen to give 7, 16 and about 30 tokens; the ids are whatever the
# tokenizer says and are stored with the sentence.
SENTENCES = [
    ("short", "The cat sat on the mat."),
    ("medium", "The animal didn't cross the street because it was too tired."),
    ("long", "Attention lets every token look back at the tokens before it; "
             "a decoder masks the future, so each row of its attention "
             "matrix sums to one."),
]


def llama_cpp_permute(w, n_head):
    """What llama.cpp's converter does to q_proj / k_proj rows: within each
    head, the two halves rotate_half pairs are interleaved."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def write_tiny_gguf(path, tensors, block_count, cfg):
    import gguf
    wr = gguf.GGUFWriter(path, "llama")
    wr.add_block_count(block_count)
    wr.add_context_length(cfg["ctx"])
    wr.add_embedding_length(cfg["hidden"])
    wr.add_feed_forward_length(cfg["ff"])
    wr.add_head_count(cfg["heads"])
    wr.add_head_count_kv(cfg["kv"])
    wr.add_rope_freq_base(cfg["theta"])
    wr.add_layer_norm_rms_eps(cfg["eps"])
    wr.add_rope_dimension_count(cfg["hidden"] // cfg["heads"])
    wr.add_vocab_size(cfg["vocab"])
    wr.add_tokenizer_model("gpt2")
    wr.add_token_list(["t%d" % i for i in range(cfg["vocab"])])
    wr.add_token_types([1] * cfg["vocab"])
    wr.add_token_merges([])
    for name, arr in tensors:
        wr.add_tensor(name, np.ascontiguousarray(arr))
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()


def make_tiny():
    cfg = dict(layers=2, hidden=32, heads=4, kv=2, ff=48, vocab=64, ctx=64,
               theta=10000.0, eps=1e-5)
    rng = np.random.default_rng(1234)
    H, F, V, d = cfg["hidden"], cfg["ff"], cfg["vocab"], cfg["hidden"] // cfg["heads"]

    def mat(rows, cols):
        return (rng.standard_normal((rows, cols)) * 0.2).astype(np.float16)

    def norm():
        return (1.0 + 0.1 * rng.standard_normal(H)).astype(np.float32)

    tensors = [("token_embd.weight", mat(V, H)), ("output_norm.weight", norm())]
    for l in range(cfg["layers"]):
        p = "blk.%d." % l
        tensors += [
            (p + "attn_norm.weight", norm()),
            (p + "attn_q.weight", llama_cpp_permute(mat(cfg["heads"] * d, H), cfg["heads"])),
            (p + "attn_k.weight", llama_cpp_permute(mat(cfg["kv"] * d, H), cfg["kv"])),
            (p + "attn_v.weight", mat(cfg["kv"] * d, H)),
            (p + "attn_output.weight", mat(H, cfg["heads"] * d)),
            (p + "ffn_norm.weight", norm()),
            (p + "ffn_gate.weight", mat(F, H)),
            (p + "ffn_up.weight", mat(F, H)),
            (p + "ffn_down.weight", mat(H, F)),
        ]
    os.makedirs(OUT_DIR, exist_ok=True)
    write_tiny_gguf(os.path.join(OUT_DIR, "tiny.gguf"), tensors, cfg["layers"], cfg)
    write_tiny_gguf(os.path.join(OUT_DIR, "tiny-missing.gguf"),
                    [t for t in tensors if t[0] != "blk.1.ffn_up.weight"], cfg["layers"], cfg)
    write_tiny_gguf(os.path.join(OUT_DIR, "tiny-extra.gguf"), tensors, 1, cfg)

    model = AutoModelForCausalLM.from_pretrained(
        OUT_DIR, gguf_file="tiny.gguf", attn_implementation="eager", dtype=torch.float32)
    model.eval()
    ids = [int(x) for x in rng.integers(0, V, 12)]
    input_ids = torch.tensor([ids], dtype=torch.long)
    with torch.no_grad():
        out = model(input_ids, output_attentions=True, use_cache=False)
        base = model.model(input_ids, use_cache=False)
    torch.stack([a[0] for a in out.attentions]).numpy().astype("<f4").tofile(
        os.path.join(OUT_DIR, "tiny-attn.f32"))
    base.last_hidden_state[0].numpy().astype("<f4").tofile(os.path.join(OUT_DIR, "tiny-hidden.f32"))
    with open(os.path.join(OUT_DIR, "tiny.json"), "w") as f:
        json.dump({"ids": ids, "n": len(ids), "config": cfg,
                   "transformers": transformers.__version__, "torch": torch.__version__}, f, indent=1)
        f.write("\n")
    print("tiny: %d tokens" % len(ids))


def main():
    make_tiny()
    if sys.argv[1:] == ["--only", "tiny"]:
        return
    path = os.path.join(MODEL_DIR, GGUF_NAME)
    if not os.path.exists(path):
        sys.exit("make-llama-goldens: %s is missing (run tools/setup)" % path)
    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=GGUF_NAME)
    model = AutoModelForCausalLM.from_pretrained(
        MODEL_DIR, gguf_file=GGUF_NAME, attn_implementation="eager",
        dtype=torch.float32)
    model.eval()
    cfg = model.config
    os.makedirs(OUT_DIR, exist_ok=True)

    cases = []
    for name, sentence in SENTENCES:
        ids = tok(sentence, add_special_tokens=True)["input_ids"]
        input_ids = torch.tensor([ids], dtype=torch.long)
        with torch.no_grad():
            out = model(input_ids, output_attentions=True, use_cache=False)
            base = model.model(input_ids, use_cache=False)
        attn = torch.stack([a[0] for a in out.attentions]).numpy().astype("<f4")
        hidden = base.last_hidden_state[0].numpy().astype("<f4")
        logits = out.logits[0, -1].double()
        top = torch.topk(logits, 10)
        attn.tofile(os.path.join(OUT_DIR, "%s-attn.f32" % name))
        hidden.tofile(os.path.join(OUT_DIR, "%s-hidden.f32" % name))
        cases.append({
            "name": name,
            "sentence": sentence,
            "ids": ids,
            "n": len(ids),
            "top10_ids": top.indices.tolist(),
            "top10_logits": top.values.tolist(),
        })
        print("%s: %d tokens" % (name, len(ids)))

    meta = {
        "model": GGUF_NAME,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "n_layers": cfg.num_hidden_layers,
        "n_heads": cfg.num_attention_heads,
        "n_kv_heads": cfg.num_key_value_heads,
        "hidden": cfg.hidden_size,
        "cases": cases,
    }
    with open(os.path.join(OUT_DIR, "cases.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
