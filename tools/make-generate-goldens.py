#!/usr/bin/env python3
"""Golden fixtures for text generation (tests/test-generate.c, tests/test-cli-generate.sh).

Run by a developer, never by CI (CI compares against the committed files):

    ~/.cache/attnscope/bench-venv/bin/python tools/make-generate-goldens.py

transformers' greedy `generate` (do_sample=False, 40 new tokens, fp32,
eager attention, on the CPU) with the models loaded as
tools/make-llama-goldens.py loads them:

  tiny.json      tests/data/llama/tiny.gguf (a seeded Llama with no usable
                 tokenizer): two prompts given as ids
  smollm2.json   SmolLM2-135M-Instruct Q4_1 GGUF: three sentences (not used
                 by any other fixture) continued as plain text, and one
                 question through the GGUF's chat template (apply_chat_template,
                 as `attnscope-cli generate --chat` writes it), which ends with
                 the end-of-sequence token

Each case: name, prompt (text, or null), prompt_ids, new_ids (as generate
returns them, the end-of-sequence token included when it stopped there),
stopped_at_eos, and text: tokenizer.decode of new_ids without that final
end-of-sequence token (special tokens kept). eos_token_id is the one
generate used.

    python tools/make-generate-goldens.py [--only tiny]
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
TINY_DIR = os.path.join(ROOT, "tests", "data", "llama")
OUT_DIR = os.path.join(ROOT, "tests", "data", "generate")
NEW_TOKENS = 40

SENTENCES = [
    ("bridges", "Suspension bridges are held up by"),
    ("bread", "To bake a simple loaf of bread, you need"),
    ("moon", "The first people to walk on the Moon"),
]
CHAT = ("chat", "What is the capital of France?")


def chatml(tok, text):
    """What `generate --chat` asks: one user turn through the model's chat
    template (SmolLM2-Instruct's ChatML, which adds its default system
    turn), ready for the assistant's answer."""
    return tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                   add_generation_prompt=True)


def greedy(model, ids):
    input_ids = torch.tensor([ids], dtype=torch.long)
    with torch.no_grad():
        out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids),
                             do_sample=False, max_new_tokens=NEW_TOKENS,
                             temperature=None, top_p=None, top_k=None)
    return [int(x) for x in out[0, len(ids):]]


def case(name, prompt, ids, new, eos, tok):
    at_eos = eos is not None and len(new) > 0 and new[-1] == eos
    text_ids = new[:-1] if at_eos else new
    return {
        "name": name,
        "prompt": prompt,
        "prompt_ids": ids,
        "new_ids": new,
        "stopped_at_eos": at_eos,
        "text": tok.decode(text_ids, skip_special_tokens=False) if tok is not None else None,
    }


def write(name, meta):
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, name), "w") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
        f.write("\n")


def versions():
    return {"transformers": transformers.__version__, "torch": torch.__version__,
            "new_tokens": NEW_TOKENS, "do_sample": False}


def make_tiny():
    model = AutoModelForCausalLM.from_pretrained(
        TINY_DIR, gguf_file="tiny.gguf", attn_implementation="eager", dtype=torch.float32)
    model.eval()
    rng = np.random.default_rng(4321)
    eos = model.generation_config.eos_token_id
    cases = []
    for name, n in (("ids-a", 6), ("ids-b", 12)):
        ids = [int(x) for x in rng.integers(0, model.config.vocab_size, n)]
        new = greedy(model, ids)
        cases.append(case(name, None, ids, new, eos, None))
        print("tiny %s: %d new tokens" % (name, len(new)))
    write("tiny.json", dict(versions(), model="tests/data/llama/tiny.gguf",
                            eos_token_id=eos, cases=cases))


def make_smollm2():
    path = os.path.join(MODEL_DIR, GGUF_NAME)
    if not os.path.exists(path):
        sys.exit("make-generate-goldens: %s is missing (run tools/setup)" % path)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=GGUF_NAME)
    model = AutoModelForCausalLM.from_pretrained(
        MODEL_DIR, gguf_file=GGUF_NAME, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    eos = model.generation_config.eos_token_id
    if isinstance(eos, list):
        eos = eos[0] if len(eos) == 1 else sys.exit("several eos ids: %r" % eos)
    cases = []
    for name, text in SENTENCES + [(CHAT[0], chatml(tok, CHAT[1]))]:
        ids = tok(text, add_special_tokens=True)["input_ids"]
        new = greedy(model, ids)
        c = case(name, text, ids, new, eos, tok)
        if name == CHAT[0]:
            c["question"] = CHAT[1]
        cases.append(c)
        print("smollm2 %s: %d prompt, %d new tokens, eos %s: %r"
              % (name, len(ids), len(new), c["stopped_at_eos"], c["text"]))
    write("smollm2.json", dict(versions(), model=GGUF_NAME, eos_token_id=eos, cases=cases))


def main():
    make_tiny()
    if sys.argv[1:] == ["--only", "tiny"]:
        return
    make_smollm2()


if __name__ == "__main__":
    main()
