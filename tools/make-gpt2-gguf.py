#!/usr/bin/env python3
"""The tiny seeded GPT-2 (tests/data/gpt2-tiny/) as a GGUF file, written the
way llama.cpp's converter (convert_hf_to_gguf.py, GPT2Model) writes GPT-2,
for tests/test-gpt2.c: the same weights, so the folder's goldens (from
tools/make-tiny-decoders.py) hold for it too.

Run by a developer, never by CI (CI compares against the committed file):

    ~/.cache/attnscope/bench-venv/bin/python tools/make-gpt2-gguf.py

What the converter does for GPT-2, and so what this writes:
  - general.architecture "gpt2"; gpt2.block_count, context_length (n_ctx),
    embedding_length, feed_forward_length (4 n_embd unless n_inner),
    attention.head_count, attention.layer_norm_epsilon;
  - the tensors under gguf-py's GPT-2 names (token_embd, position_embd,
    output_norm, output, blk.N.attn_norm, attn_qkv, attn_output, ffn_norm,
    ffn_up, ffn_down), all F32 here; the Conv1D weights (c_attn, c_proj,
    c_fc, mlp.c_proj) transposed to nn.Linear's [out, in]; output.weight
    a copy of the token embedding (GPT-2 ties them);
  - the tokenizer: tokenizer.ggml.model "gpt2", pre "gpt-2", the
    vocabulary by id, token types (control for special added tokens),
    the merges, bos/eos from tokenizer_config.json, no BOS added.

It then checks its own work: transformers loads the written file
(gguf_file=…) and must give the folder model's attention and logits, and
the same ids for the goldens' sentences.

    tests/data/gpt2-tiny/gpt2-tiny.gguf
"""
import json
import os

import numpy as np
import gguf
import torch
from safetensors.numpy import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FOLDER = os.path.join(ROOT, "tests", "data", "gpt2-tiny")
NAME = "gpt2-tiny.gguf"
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def tensor_name(hf):
    """gguf-py's name for a GPT2Model tensor (no 'transformer.' prefix)."""
    fixed = {"wte.weight": "token_embd.weight", "wpe.weight": "position_embd.weight",
             "ln_f.weight": "output_norm.weight", "ln_f.bias": "output_norm.bias"}
    if hf in fixed:
        return fixed[hf]
    _, layer, rest = hf.split(".", 2)   # h.N.rest
    part = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output",
            "ln_2": "ffn_norm", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
    module, kind = rest.rsplit(".", 1)
    return "blk.%s.%s.%s" % (layer, part[module], kind)


def write_gguf(path):
    cfg = json.load(open(os.path.join(FOLDER, "config.json")))
    tokj = json.load(open(os.path.join(FOLDER, "tokenizer.json")))
    tokcfg = json.load(open(os.path.join(FOLDER, "tokenizer_config.json")))
    st = load_file(os.path.join(FOLDER, "model.safetensors"))

    wr = gguf.GGUFWriter(path, "gpt2")
    wr.add_name("gpt2-tiny")
    wr.add_block_count(cfg["n_layer"])
    wr.add_context_length(cfg["n_positions"])
    wr.add_embedding_length(cfg["n_embd"])
    wr.add_feed_forward_length(cfg["n_inner"] or 4 * cfg["n_embd"])
    wr.add_head_count(cfg["n_head"])
    wr.add_layer_norm_eps(cfg["layer_norm_epsilon"])
    wr.add_file_type(gguf.LlamaFileType.ALL_F32)

    vocab = tokj["model"]["vocab"]
    added = {t["content"]: t for t in tokj["added_tokens"]}
    tokens = [None] * len(vocab)
    for piece, i in vocab.items():
        tokens[i] = piece
    for t in tokj["added_tokens"]:
        if t["id"] >= len(tokens):
            tokens.extend([None] * (t["id"] + 1 - len(tokens)))
        tokens[t["id"]] = t["content"]
    assert all(t is not None for t in tokens) and len(tokens) == cfg["vocab_size"]
    types = [gguf.TokenType.CONTROL if t in added and added[t]["special"] else gguf.TokenType.NORMAL
             for t in tokens]
    merges = [m if isinstance(m, str) else " ".join(m) for m in tokj["model"]["merges"]]
    wr.add_tokenizer_model("gpt2")
    wr.add_tokenizer_pre("gpt-2")
    wr.add_token_list(tokens)
    wr.add_token_types(types)
    wr.add_token_merges(merges)
    wr.add_bos_token_id(vocab.get(tokcfg["bos_token"], tokens.index(tokcfg["bos_token"])))
    wr.add_eos_token_id(tokens.index(tokcfg["eos_token"]))
    wr.add_add_bos_token(False)

    for hf in st:
        name = hf[len("transformer."):] if hf.startswith("transformer.") else hf
        if name.startswith("lm_head."):
            continue   # tied: written below as the converter does
        data = st[hf].astype(np.float32)
        if name.endswith(CONV1D):
            data = data.T
        wr.add_tensor(tensor_name(name), np.ascontiguousarray(data))
        if name == "wte.weight":
            wr.add_tensor("output.weight", np.ascontiguousarray(data))
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()


def check(path):
    """transformers reads the file back as the folder's model."""
    cases = json.load(open(os.path.join(FOLDER, "cases.json")))["cases"]
    ref = AutoModelForCausalLM.from_pretrained(FOLDER, attn_implementation="eager",
                                               dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(FOLDER, gguf_file=NAME)
    # transformers maps context_length to GPT2Config's n_ctx, not n_positions
    # (1024 by default, GPT-2's own): said here for a table of 64 rows
    model = AutoModelForCausalLM.from_pretrained(FOLDER, gguf_file=NAME,
                                                 attn_implementation="eager",
                                                 dtype=torch.float32,
                                                 n_positions=ref.config.n_positions).eval()
    for c in cases:
        ids = tok(c["sentence"], add_special_tokens=True)["input_ids"]
        assert ids == c["ids"], (c["name"], ids, c["ids"])
        x = torch.tensor([ids])
        with torch.no_grad():
            a = ref(x, output_attentions=True)
            b = model(x, output_attentions=True)
        d_attn = max(float((p - q).abs().max()) for p, q in zip(a.attentions, b.attentions))
        d_logit = float((a.logits - b.logits).abs().max())
        print("%s: ids as the goldens'; attention differs by %.3g, logits by %.3g"
              % (c["name"], d_attn, d_logit))
        assert d_attn < 1e-6 and d_logit < 1e-5


def main():
    path = os.path.join(FOLDER, NAME)
    write_gguf(path)
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))
    check(path)


if __name__ == "__main__":
    main()
