#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora (tests/fuzz/corpus/<target>/) and the small
tokenizer files of tests/fuzz/data/. Deterministic; run from anywhere:

    python3 tests/fuzz/make-seeds.py [MODEL_DIR]

The seeds are small valid inputs shaped like the real model's files (same
tensor names, same config keys, same tokenizer.json layout) plus a few edge
cases; libFuzzer mutates from there. MODEL_DIR (default: the source tree's
all-MiniLM-L6-v2) adds the real config.json as a seed when present.
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODEL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "data", "models", "all-MiniLM-L6-v2")
CORPUS = os.path.join(HERE, "corpus")
DATA = os.path.join(HERE, "data")

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "animal", "didn", "t", "cross", "street", "because", "it", "was",
         "too", "tired", "cafe", "naive", "muller", "un", "##able", "##ing", "##ed",
         "##s", "istanbul", "東", "京", "ש", "##ל", "##ו", "##ם"]
VOCAB = (SPECIALS + list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + list("abcdefghijklmnopqrstuvwxyz0123456789")
         + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"] + WORDS)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)


# --- safetensors -------------------------------------------------------------

def safetensors(entries, metadata=None, pad=0):
    """entries: (name, dtype, shape, raw bytes). Offsets in the given order."""
    header, blob, offset = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blob += raw
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode() + b" " * pad
    return struct.pack("<Q", len(text)) + text + blob


def f32(n, start=0.0):
    return struct.pack("<%df" % n, *[start + 0.25 * i for i in range(n)])


def tiny_bert(hidden=4, inter=8, vocab=6, positions=4, layers=1, dtype="F32"):
    size = 4 if dtype == "F32" else 2
    def t(name, *shape):
        n = 1
        for d in shape:
            n *= d
        raw = f32(n) if dtype == "F32" else bytes((i * 7) & 0xff for i in range(n * size))
        return (name, dtype, list(shape), raw)
    out = [("embeddings.position_ids", "I64", [1, positions], struct.pack("<%dq" % positions, *range(positions))),
           t("embeddings.word_embeddings.weight", vocab, hidden),
           t("embeddings.position_embeddings.weight", positions, hidden),
           t("embeddings.token_type_embeddings.weight", 2, hidden),
           t("embeddings.LayerNorm.weight", hidden), t("embeddings.LayerNorm.bias", hidden)]
    for l in range(layers):
        p = "encoder.layer.%d." % l
        for m in ("query", "key", "value"):
            out += [t(p + "attention.self.%s.weight" % m, hidden, hidden), t(p + "attention.self.%s.bias" % m, hidden)]
        out += [t(p + "attention.output.dense.weight", hidden, hidden), t(p + "attention.output.dense.bias", hidden),
                t(p + "attention.output.LayerNorm.weight", hidden), t(p + "attention.output.LayerNorm.bias", hidden),
                t(p + "intermediate.dense.weight", inter, hidden), t(p + "intermediate.dense.bias", inter),
                t(p + "output.dense.weight", hidden, inter), t(p + "output.dense.bias", hidden),
                t(p + "output.LayerNorm.weight", hidden), t(p + "output.LayerNorm.bias", hidden)]
    return out


def safetensors_seeds():
    d = os.path.join(CORPUS, "fuzz-safetensors")
    write(os.path.join(d, "tiny-bert-f32"), safetensors(tiny_bert(hidden=2, inter=2, vocab=3, positions=2), {"format": "pt"}))
    write(os.path.join(d, "tiny-bert-bf16"), safetensors(tiny_bert(hidden=2, inter=2, vocab=3, positions=2, dtype="BF16")))
    write(os.path.join(d, "f16-bf16-f32"), safetensors([
        ("a", "F16", [2, 2], struct.pack("<4H", 0x3c00, 0x7c00, 0xfc00, 0x0001)),
        ("b", "BF16", [3], struct.pack("<3H", 0x3f80, 0x7fc0, 0x8000)),
        ("c", "F32", [1], f32(1)),
        ("scalar", "F32", [], f32(1)),
        ("empty", "F32", [0, 5], b"")], {"format": "pt", "note": "\u00e9\u6771"}, pad=5))
    write(os.path.join(d, "other-dtypes"), safetensors([
        ("i8", "I8", [2], b"\x01\xff"), ("u16", "U16", [1], b"\x01\x00"),
        ("i32", "I32", [1], b"\x01\x00\x00\x00"), ("f64", "F64", [1], struct.pack("<d", 1.5)),
        ("bool", "BOOL", [1], b"\x01"), ("f8", "F8_E4M3", [1], b"\x38")]))
    write(os.path.join(d, "empty-header"), struct.pack("<Q", 2) + b"{}")
    write(os.path.join(d, "metadata-only"), safetensors([], {"format": "pt"}))
    # Edge cases the reader must refuse, as starting points.
    write(os.path.join(d, "bad-overlap"), struct.pack("<Q", 90) + json.dumps(
        {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
         "b": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}}, separators=(",", ":")).encode().ljust(90) + b"\0" * 6)
    write(os.path.join(d, "bad-length"), struct.pack("<Q", 1 << 40) + b"{}")


# --- config.json ---------------------------------------------------------------

def config_seeds():
    d = os.path.join(CORPUS, "fuzz-config")
    real = os.path.join(MODEL, "config.json")
    if os.path.exists(real):
        write(os.path.join(d, "minilm-config.json"), open(real, "rb").read())
    base = {"model_type": "bert", "num_hidden_layers": 1, "num_attention_heads": 2, "hidden_size": 4,
            "intermediate_size": 8, "vocab_size": len(VOCAB), "max_position_embeddings": 16}
    write(os.path.join(d, "tiny.json"), json.dumps(base))
    write(os.path.join(d, "full.json"), json.dumps(dict(base, hidden_act="gelu", type_vocab_size=2,
                                                        layer_norm_eps=1e-12, position_embedding_type="absolute",
                                                        architectures=["BertModel"], pad_token_id=0), indent=2))
    write(os.path.join(d, "bad-heads.json"), json.dumps(dict(base, num_attention_heads=3)))
    write(os.path.join(d, "bad-eps.json"), json.dumps(dict(base, layer_norm_eps=0)))


# --- tokenizer.json and vocab.txt ------------------------------------------------

def tokenizer_json(post="template", added=None, normalizer=True, pre=True, **model):
    vocab = {tok: i for i, tok in enumerate(VOCAB)}
    ids = {s: vocab[s] for s in SPECIALS}
    added = added if added is not None else [
        {"id": ids[s], "special": True, "content": s, "single_word": False, "lstrip": False,
         "rstrip": False, "normalized": False} for s in SPECIALS]
    doc = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
           "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                          "strip_accents": None, "lowercase": True} if normalizer else None,
           "pre_tokenizer": {"type": "BertPreTokenizer"} if pre else None,
           "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
           "model": dict({"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                          "max_input_chars_per_word": 100, "vocab": vocab}, **model)}
    if post == "template":
        doc["post_processor"] = {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [ids["[CLS]"]], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [ids["[SEP]"]], "tokens": ["[SEP]"]}}}
    elif post == "bert":
        doc["post_processor"] = {"type": "BertProcessing", "sep": ["[SEP]", ids["[SEP]"]], "cls": ["[CLS]", ids["[CLS]"]]}
    else:
        doc["post_processor"] = None
    return json.dumps(doc, ensure_ascii=False, indent=1)


def tokenizer_seeds():
    write(os.path.join(DATA, "tokenizer.json"), tokenizer_json())
    write(os.path.join(DATA, "vocab.txt"), "\n".join(VOCAB) + "\n")
    d = os.path.join(CORPUS, "fuzz-tokenizer-json")
    write(os.path.join(d, "template.json"), tokenizer_json())
    write(os.path.join(d, "bert-processing.json"), tokenizer_json(post="bert", strip_accents=False))
    write(os.path.join(d, "no-post-no-normalizer.json"), tokenizer_json(post=None, normalizer=False, pre=False))
    fancy = [{"id": 1, "content": "[UNK]", "special": True},
             {"id": 2, "content": "[CLS]", "special": True, "normalized": False},
             {"id": 3, "content": "[SEP]", "special": True, "lstrip": True, "rstrip": True},
             {"id": 4, "content": "[MASK]", "special": True, "single_word": True, "lstrip": True},
             {"id": 200, "content": "Héllo", "special": False, "normalized": True},
             {"id": 201, "content": "wor", "special": False, "single_word": True}]
    write(os.path.join(d, "added-tokens.json"), tokenizer_json(added=fancy, max_input_chars_per_word=5))
    d = os.path.join(CORPUS, "fuzz-vocab")
    vocab = "\n".join(VOCAB) + "\n"
    write(os.path.join(d, "lower.txt"), b"\x01" + vocab.encode())
    write(os.path.join(d, "cased.txt"), b"\x00" + vocab.encode())
    write(os.path.join(d, "crlf-dup.txt"), b"\x01" + "[UNK]\r\n[CLS]  \n[SEP]\n\nthe\nthe\n##e\u3000\n".encode())


# --- text for the tokenizer -------------------------------------------------------

def tokenize_seeds():
    d = os.path.join(CORPUS, "fuzz-tokenize")
    texts = {
        "english": "The animal didn't cross the street because it was too tired.",
        "accents": "Café naïve Müller İstanbul ÅNGSTRÖM façade",
        "cjk": "東京は日本の首都です。北京",
        "rtl": "שלום עולם مرحبا بالعالم",
        "emoji-zwj": "👩‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 ok",
        "zero-width": "zero\u200bwidth\u200c\u200djoin\ufefftext\u2060",
        "controls": "tab\there\x01\x02\x1b[31mred\x7f\u0085\u2028line",
        "special-literal": "[CLS] a [MASK] b [SEP][SEP] ##ing",
        "long-word": "a" * 101 + " " + "b" * 99,
        "punct": "$^~ ... !!! (x) {y} [z] «quoted» ¿qué?",
        "whitespace": " \t\n\r\u00a0\u3000 ",
    }
    for i, (name, text) in enumerate(texts.items()):
        flags = (i & 3) | ((i * 5 % 16) << 2)
        write(os.path.join(d, name), bytes([flags, 128]) + text.encode("utf-8"))
    write(os.path.join(d, "invalid-utf8"), bytes([0, 0]) + b"ok \xff\xfe \xc3( \xe2\x82 \xf0\x9f\x98 \xed\xa0\x80 \xc0\xaf end\x00nul")
    write(os.path.join(d, "pair-invalid"), bytes([1, 100]) + b"\x80\x80abc\xc2" + b"\xf4\x90\x80\x80 tail")


if __name__ == "__main__":
    safetensors_seeds()
    config_seeds()
    tokenizer_seeds()
    tokenize_seeds()
