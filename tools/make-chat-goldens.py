#!/usr/bin/env python3
"""Golden chat prompts for `attnscope-cli generate --chat` (tests/test-cli-generate.sh).

Run by a developer, never by CI (CI compares against the committed file):

    ~/.cache/attnscope/bench-venv/bin/python tools/make-chat-goldens.py

transformers' `apply_chat_template` (add_generation_prompt=True) of the
SmolLM2-135M-Instruct Q4_1 GGUF's tokenizer, whose template is the
GGUF's tokenizer.chat_template: a ChatML template that writes a default
system turn when the conversation has none. Each case is one user turn,
with or without a system turn (what --system gives):

  name, system (null: none given), user, text (the template's output),
  ids (its token ids, as apply_chat_template(tokenize=True) gives them)

into tests/data/generate/chat.json.
"""
import json
import os
import sys

import transformers
from transformers import AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODEL_DIR = os.path.join(ROOT, "data", "models", "SmolLM2-135M-Instruct")
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = os.path.join(ROOT, "tests", "data", "generate", "chat.json")

CASES = [
    ("default-system", None, "What is the capital of France?"),
    ("multi-line", None, "Two lines:\nfirst,\n  then second."),
    ("system", "You are a pirate. Answer in one sentence.", "Where is the treasure?"),
    ("system-unicode", "Réponds en français, s'il te plaît 🙂", "日本の首都は？"),
    ("system-empty", "", "Hello"),
]


def main():
    path = os.path.join(MODEL_DIR, GGUF_NAME)
    if not os.path.exists(path):
        sys.exit("make-chat-goldens: %s is missing (run tools/setup)" % path)
    tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=GGUF_NAME)
    cases = []
    for name, system, user in CASES:
        messages = ([] if system is None else [{"role": "system", "content": system}]) + \
                   [{"role": "user", "content": user}]
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
        if not isinstance(ids, list):   # a BatchEncoding in some versions
            ids = ids["input_ids"]
        cases.append({"name": name, "system": system, "user": user, "text": text,
                      "ids": [int(i) for i in ids]})
        print("%s: %d ids: %r" % (name, len(ids), text))
    with open(OUT, "w") as f:
        json.dump({"transformers": transformers.__version__, "model": GGUF_NAME,
                   "chat_template": tok.chat_template, "cases": cases},
                  f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
