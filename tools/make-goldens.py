#!/usr/bin/env python3
"""Produce AttnScope's golden fixtures from Hugging Face reference code.

Run by a developer, never by CI (CI compares against the committed files):

    python3 -m venv ~/venv-ref && ~/venv-ref/bin/pip install torch transformers tokenizers
    ~/venv-ref/bin/python tools/make-goldens.py [--only tokens|attention]

Writes into tests/data/:
  token-goldens.jsonl        ids for >= 2,000 real lines + edge cases (tools/goldens_tokens.py)
  attention-goldens.json     the inputs: text, ids, type ids, which rows are stored
  attention/NAME.safetensors per input: "attention" [layers, heads, rows, n],
                             "last_hidden_state" [rows, hidden], "rows" [rows]
Attention comes from transformers' BertModel in eager mode (the SDPA path
returns no attention), model.eval(), fp32 on the CPU.
"""
import argparse
import base64
import hashlib
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODEL_DIR = os.path.join(ROOT, "data", "models", "all-MiniLM-L6-v2")
OUT_DIR = os.path.join(ROOT, "tests", "data")

# Inputs are stored whole up to this many tokens; longer ones keep a spread of
# rows so a 512-token case stays a couple of MB.
ALL_ROWS_UP_TO = 40
SAMPLED_ROWS = 12


def long_text(min_words):
    """Real prose from Debian's documentation, enough to pass 512 tokens."""
    sources = ["/usr/share/common-licenses/GPL-3", "/usr/share/common-licenses/Apache-2.0"]
    words = []
    for path in sources:
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                words += f.read().split()
        if len(words) >= min_words:
            break
    if len(words) < min_words:
        sys.exit("make-goldens: not enough text in %s" % sources)
    return " ".join(words[:min_words])


def attention_inputs():
    """(name, text_a, text_b). Covers the tokenizer's edge cases too."""
    cases = [
        ("animal", "The animal didn't cross the street because it was too tired.", None),
        ("animal-wide", "The animal didn't cross the street because it was too wide.", None),
        ("hello", "Hello, world!", None),
        ("single-word", "attention", None),
        ("empty", "", None),
        ("whitespace", " \t \n ", None),
        ("punctuation", "Wait... what?! (Really) -- yes: [maybe]; \"quoted\" & 'single' $^~ #1 @home 100%", None),
        ("accents", "Café au lait, naïve Müller, résumé, São Paulo, İstanbul.", None),
        ("german", "Die Würde des Menschen ist unantastbar. Sie zu achten und zu schützen ist Verpflichtung aller staatlichen Gewalt.", None),
        ("french", "L'attention est tout ce dont vous avez besoin, disait-on en 2017.", None),
        ("russian", "Внимание — это всё, что вам нужно.", None),
        ("greek", "Η προσοχή είναι το μόνο που χρειάζεστε.", None),
        ("chinese", "注意力就是你所需要的一切。", None),
        ("japanese", "注意こそが必要なすべてです。", None),
        ("arabic", "الانتباه هو كل ما تحتاجه.", None),
        ("emoji", "I love it 😀👍🏽 and 👨‍👩‍👧 family!", None),
        ("zero-width", "zero\u200bwidth\u200c join\u200d and\ufeff bom", None),
        ("control", "tab\there\x07bell\x00nul\u2028line\u2029para\ufffdrepl", None),
        ("mask", "The capital of France is [MASK]. [SEP] inside text.", None),
        ("long-word", "x" * 101 + " and " + "y" * 100, None),
        ("unknown-piece", "Transformers\u0378architecture unaffable", None),
        ("numbers", "In 1905, Einstein published 4 papers; E = mc^2 ≈ 9×10^16 J/kg.", None),
        ("code", "def f(x): return x**2 + 1  # squares, then adds one", None),
        ("repeated", "the the the the the the the the the the", None),
        ("pair-qa", "Who wrote the theory of relativity?", "Albert Einstein published it in 1905 and 1915."),
        ("pair-nli", "A man is playing a guitar on stage.", "Someone is performing music."),
        ("pair-empty-b", "Only the first sentence matters here.", ""),
        ("pair-multilingual", "Where is the station?", "Où est la gare ?"),
        ("medium", long_text(60), None),
        ("long-128", long_text(100), None),
        ("long-256", long_text(200), None),
        ("long-512", long_text(600), None),
        ("pair-long-512", long_text(400), long_text(300)),
    ]
    return cases


def load_tokenizer(max_length):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(MODEL_DIR, "tokenizer.json"))
    tok.no_padding()
    # The file says truncate at 128; we use the model's 512 positions.
    tok.enable_truncation(max_length=max_length, strategy="longest_first")
    return tok


def pick_rows(n):
    if n <= ALL_ROWS_UP_TO:
        return list(range(n))
    rows = sorted({round(i * (n - 1) / (SAMPLED_ROWS - 1)) for i in range(SAMPLED_ROWS)})
    return rows


def write_safetensors(path, tensors):
    """Minimal writer (F32 only): header JSON padded to 8 bytes, then data."""
    header = {}
    blobs = []
    offset = 0
    for name, (shape, values) in tensors.items():
        data = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def make_attention():
    import torch
    import transformers
    from transformers import BertModel

    torch.set_grad_enabled(False)
    model = BertModel.from_pretrained(MODEL_DIR, attn_implementation="eager", add_pooling_layer=False)
    model.eval()
    cfg = model.config
    tok = load_tokenizer(cfg.max_position_embeddings)

    os.makedirs(os.path.join(OUT_DIR, "attention"), exist_ok=True)
    manifest = {
        "generator": "tools/make-goldens.py",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "model_sha256": sha256(os.path.join(MODEL_DIR, "model.safetensors")),
        "inputs": [],
    }
    for name, a, b in attention_inputs():
        enc = tok.encode(a, b) if b is not None else tok.encode(a)
        ids = torch.tensor([enc.ids])
        types = torch.tensor([enc.type_ids])
        out = model(input_ids=ids, token_type_ids=types, attention_mask=torch.ones_like(ids),
                    output_attentions=True)
        n = len(enc.ids)
        rows = pick_rows(n)
        att = torch.stack([x[0] for x in out.attentions])  # [L, H, n, n]
        att = att[:, :, rows, :].contiguous()               # [L, H, R, n]
        hid = out.last_hidden_state[0, rows, :].contiguous()  # [R, hidden]
        fname = "attention/%s.safetensors" % name
        write_safetensors(os.path.join(OUT_DIR, fname), {
            "attention": (list(att.shape), att.flatten().tolist()),
            "last_hidden_state": (list(hid.shape), hid.flatten().tolist()),
            "rows": ([len(rows)], [float(r) for r in rows]),
        })
        manifest["inputs"].append({
            "name": name, "a": a, "b": b, "ids": enc.ids, "type_ids": enc.type_ids,
            # C strings stop at NUL; the exact bytes travel in base64 too.
            "a_base64": base64.b64encode(a.encode("utf-8")).decode("ascii"),
            "b_base64": None if b is None else base64.b64encode(b.encode("utf-8")).decode("ascii"),
            "truncated": bool(enc.overflowing), "file": fname,
        })
        print("attention %-18s %3d tokens, %2d rows stored" % (name, n, len(rows)), file=sys.stderr)
    with open(os.path.join(OUT_DIR, "attention-goldens.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["tokens", "attention"])
    args = ap.parse_args()
    if not os.path.exists(os.path.join(MODEL_DIR, "model.safetensors")):
        sys.exit("make-goldens: run tools/setup first (no model in %s)" % MODEL_DIR)
    if args.only in (None, "tokens"):
        sys.path.insert(0, HERE)
        import goldens_tokens
        goldens_tokens.main(OUT_DIR)
    if args.only in (None, "attention"):
        make_attention()


if __name__ == "__main__":
    main()
