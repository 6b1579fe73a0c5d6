#!/usr/bin/env python3
"""Tiny seeded decoder folders and their goldens (tests/test-gpt2.c,
tests/test-llama.c).

Run by a developer, never by CI (CI compares against the committed files):

    ~/.cache/attnscope/bench-venv/bin/python tools/make-tiny-decoders.py

Trains a tiny byte-level BPE (the `tokenizers` library, GPT-2's byte
alphabet and regex, about 400 tokens) on the text below, then builds two
seeded random models with transformers and saves each as a model folder
with save_pretrained (safetensors):

  tests/data/gpt2-tiny/   GPT2LMHeadModel: 2 layers, 4 heads, n_embd 32,
                          64 positions, gelu_new; lm_head tied to wte;
                          <|endoftext|> is BOS and EOS, nothing added
  tests/data/llama-tiny/  LlamaForCausalLM: 2 layers, 4 query / 2 key-value
                          heads of 8, SwiGLU 64 wide, a separate lm_head;
                          add_bos_token, which transformers saves as the
                          tokenizer.json's template: every text starts
                          with <|endoftext|> as BOS

Every weight is drawn wider than the default initialisation (and the norms'
gains and biases away from 1 and 0) so that attention is far from uniform
and a wrong step shows.

Goldens, transformers in eager mode, fp32, on the CPU, for each sentence:
  cases.json        per case: name, sentence, ids (the folder's tokenizer),
                    n; the top 10 logits of the last position (ids and
                    values); shapes and versions
  NAME-attn.f32     [layers, heads, n, n] attention probabilities, float32 LE
  NAME-hidden.f32   [n, hidden] the base model's last_hidden_state (after
                    the final norm), float32 LE
"""
import json
import os

import numpy as np
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (AutoTokenizer, GPT2Config, GPT2LMHeadModel, LlamaConfig,
                          LlamaForCausalLM, PreTrainedTokenizerFast)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(ROOT, "tests", "data")
SEED = 20241206

TRAINING_TEXT = """\
Attention lets every token look back at the tokens before it. A decoder
masks the future, so each row of its attention matrix sums to one over the
tokens so far. The cat sat on the mat. The animal didn't cross the street
because it was too tired. Heads in the first layer often look at the
previous token; later heads follow the meaning of the sentence. Numbers
such as 1, 22 and 333 are split too, and so is punctuation: commas, full
stops; colons! Questions? A language model predicts the next word of a text
from the words it has seen, one token at a time.
"""

SENTENCES = [
    ("short", "The cat sat on the mat."),
    ("medium", "Attention heads didn't look at the street, 42 times!"),
]

EOT = "<|endoftext|>"


def train_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=[EOT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator([TRAINING_TEXT] * 4, trainer)
    return tok


def widen_weights(model, std):
    """Every weight N(0, std); norm gains 1 + N(0, 0.2), biases N(0, 0.1)."""
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if p.dim() == 1 and ("ln" in name or "norm" in name) and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * noise)
            elif p.dim() == 1:
                p.copy_(0.1 * noise)
            else:
                p.copy_(std * noise)


def write_goldens(model, tokenizer, base, out_dir, add_bos):
    cases = []
    for name, sentence in SENTENCES:
        ids = tokenizer(sentence)["input_ids"]
        if add_bos:
            assert ids[0] == tokenizer.bos_token_id, "the tokenizer did not add its BOS"
        with torch.no_grad():
            out = model(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
            hidden = base(torch.tensor([ids])).last_hidden_state[0]
        attn = torch.stack([a[0] for a in out.attentions]).numpy().astype("<f4")
        attn.tofile(os.path.join(out_dir, name + "-attn.f32"))
        hidden.numpy().astype("<f4").tofile(os.path.join(out_dir, name + "-hidden.f32"))
        logits = out.logits[0, -1]
        top = torch.topk(logits, 10)
        cases.append({
            "name": name,
            "sentence": sentence,
            "ids": ids,
            "n": len(ids),
            "attn_shape": list(attn.shape),
            "hidden_shape": list(hidden.shape),
            "top_ids": top.indices.tolist(),
            "top_logits": [float(v) for v in top.values],
        })
    meta = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "attn_implementation": "eager",
        "dtype": "float32",
        "cases": cases,
    }
    with open(os.path.join(out_dir, "cases.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


def save_folder(model, tokenizer, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    # Kept out of the fixture: what the tests read is config, weights, tokenizer.
    for extra in ("generation_config.json", "special_tokens_map.json", "chat_template.jinja"):
        path = os.path.join(out_dir, extra)
        if os.path.exists(path):
            os.remove(path)


def make_gpt2(tok):
    out_dir = os.path.join(DATA, "gpt2-tiny")
    eot = tok.token_to_id(EOT)
    config = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=64, n_embd=32, n_layer=2,
                        n_head=4, activation_function="gelu_new", bos_token_id=eot,
                        eos_token_id=eot, attn_implementation="eager")
    torch.manual_seed(SEED)
    model = GPT2LMHeadModel(config).eval()
    widen_weights(model, 0.3)
    model.tie_weights()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOT, eos_token=EOT,
                                        unk_token=EOT)
    save_folder(model, tokenizer, out_dir)
    # Read back as a user would, so the goldens come from the saved files.
    model = GPT2LMHeadModel.from_pretrained(out_dir, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    write_goldens(model, tokenizer, model.transformer, out_dir, add_bos=False)


def make_llama(tok):
    out_dir = os.path.join(DATA, "llama-tiny")
    eot = tok.token_to_id(EOT)
    config = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=64, rms_norm_eps=1e-5,
                         tie_word_embeddings=False, bos_token_id=eot, eos_token_id=eot,
                         attn_implementation="eager")
    torch.manual_seed(SEED + 1)
    model = LlamaForCausalLM(config).eval()
    widen_weights(model, 0.3)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOT, eos_token=EOT,
                                        unk_token=EOT, add_bos_token=True)
    save_folder(model, tokenizer, out_dir)
    model = LlamaForCausalLM.from_pretrained(out_dir, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    write_goldens(model, tokenizer, model.model, out_dir, add_bos=True)


def main():
    torch.set_grad_enabled(False)
    tok = train_tokenizer()
    make_gpt2(tok)
    make_llama(tok)
    for d in ("gpt2-tiny", "llama-tiny"):
        path = os.path.join(DATA, d)
        size = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
        print("%s: %s (%d bytes)" % (d, ", ".join(sorted(os.listdir(path))), size))


if __name__ == "__main__":
    main()
