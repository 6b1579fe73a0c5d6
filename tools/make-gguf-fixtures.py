#!/usr/bin/env python3
"""Produce the GGUF fixtures of tests/test-gguf.c from gguf-py, ggml's own
Python package, as an independent reference for the C reader.

Run by a developer, never by CI (CI compares against the committed files):

    python3 -m venv /tmp/gguf-venv && /tmp/gguf-venv/bin/pip install gguf numpy
    /tmp/gguf-venv/bin/python tools/make-gguf-fixtures.py [--smollm2 PATH]

Writes into tests/data/gguf/:
  TYPE.blocks   raw blocks of each type AttnScope reads (seeded, see below)
  TYPE.f32      what gguf.quants.dequantize makes of them, little-endian f32
  tiny.gguf     written by gguf.GGUFWriter: metadata of all 13 value types
                (arrays of numbers and of strings), alignment 64, and one
                tensor per type made of the first blocks of TYPE.blocks
                (so its expected floats are the first ones of TYPE.f32), plus
                a Q2_K tensor the C reader must refuse to de-quantise
  ../fuzz/corpus/fuzz-gguf/  seeds for the fuzz target: tiny.gguf, one small
                file per type AttnScope reads, a file without tensors
  smollm2.f32   with --smollm2 PATH (SmolLM2-135M-Instruct.Q4_1.gguf, as
                tools/setup fetches it): rows of two real tensors de-quantised by
                gguf-py, in the order of SMOLLM2_ROWS below

Blocks: for Q8_0, Q4_0 and Q4_1 half the blocks are gguf.quants.quantize of
seeded normal floats, half random bytes (which reach codes a quantiser never
writes, such as -128 in Q8_0); gguf-py cannot quantise K-quants, so Q4_K,
Q5_K and Q6_K blocks are random bytes. Scales (the f16 d, dmin) are always
finite random values: random bytes there would be NaN or inf now and then,
which says nothing about the layout.
"""
import argparse
import importlib.metadata
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf import GGUFValueType as V

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT_DIR = os.path.join(ROOT, "tests", "data", "gguf")
SEED_DIR = os.path.join(ROOT, "tests", "fuzz", "corpus", "fuzz-gguf")
SEED = 20261205

# Elements per fixture: whole blocks of every type.
N_PLAIN = 256
N_BLOCK32 = 8 * 32
N_KQUANT = 4 * 256

# (tensor, rows) of the real file, de-quantised into smollm2.f32 in this order.
SMOLLM2_ROWS = [
    ("token_embd.weight", [0, 1, 2, 1000, 49151]),   # Q8_0, 576 per row
    ("blk.0.attn_q.weight", [0, 1, 575]),             # Q4_1, 576 per row
]


def f16_bytes(values):
    return np.asarray(values, dtype=np.float32).astype(np.float16).view(np.uint8)


def plain_blocks(rng, qtype):
    """F32/F16/BF16: seeded normals plus the values whose conversion matters."""
    x = rng.standard_normal(N_PLAIN).astype(np.float32) * 3
    if qtype == T.F32:
        x[:6] = [0.0, -0.0, np.inf, -np.inf, np.float32(1e-45), np.float32(3.4e38)]
        return x.view(np.uint8)
    if qtype == T.F16:
        h = x.astype(np.float16).view(np.uint16)
        # zero, -0, smallest and largest subnormal, inf, -inf, a quiet NaN,
        # the largest normal
        h[:8] = [0x0000, 0x8000, 0x0001, 0x03FF, 0x7C00, 0xFC00, 0x7E00, 0x7BFF]
        return h.view(np.uint8)
    b = gguf.quants.quantize(x, T.BF16).view(np.uint16).copy()
    b[:6] = [0x0000, 0x8000, 0x0001, 0x7F80, 0xFF80, 0x7FC0]
    return b.view(np.uint8)


def random_block32(rng, qtype, n_blocks):
    _, size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    raw[:, 0:2] = f16_bytes(rng.uniform(-0.1, 0.1, n_blocks)).reshape(n_blocks, 2)
    if qtype == T.Q4_1:
        raw[:, 2:4] = f16_bytes(rng.uniform(-1, 1, n_blocks)).reshape(n_blocks, 2)
    return raw


def block32_blocks(rng, qtype):
    n_blocks = N_BLOCK32 // 32
    x = rng.standard_normal((n_blocks // 2, 32)).astype(np.float32)
    quantised = gguf.quants.quantize(x, qtype).reshape(n_blocks // 2, -1)
    return np.concatenate([quantised, random_block32(rng, qtype, n_blocks // 2)]).reshape(-1)


def kquant_blocks(rng, qtype):
    n_blocks = N_KQUANT // 256
    _, size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    if qtype == T.Q6_K:
        raw[:, 208:210] = f16_bytes(rng.uniform(-0.01, 0.01, n_blocks)).reshape(n_blocks, 2)
    else:  # Q4_K, Q5_K: d, dmin first
        raw[:, 0:2] = f16_bytes(rng.uniform(-0.01, 0.01, n_blocks)).reshape(n_blocks, 2)
        raw[:, 2:4] = f16_bytes(rng.uniform(-0.01, 0.01, n_blocks)).reshape(n_blocks, 2)
    return raw.reshape(-1)


TYPES = [
    (T.F32, plain_blocks), (T.F16, plain_blocks), (T.BF16, plain_blocks),
    (T.Q8_0, block32_blocks), (T.Q4_0, block32_blocks), (T.Q4_1, block32_blocks),
    (T.Q4_K, kquant_blocks), (T.Q5_K, kquant_blocks), (T.Q6_K, kquant_blocks),
]


def dequantize(raw, qtype):
    _, size = gguf.GGML_QUANT_SIZES[qtype]
    return gguf.quants.dequantize(raw.reshape(-1, size), qtype).reshape(-1).astype("<f4")


def write(name, data):
    path = os.path.join(OUT_DIR, name)
    with open(path, "wb") as f:
        f.write(bytes(data))
    return path


def make_blocks():
    rng = np.random.default_rng(SEED)
    blocks = {}
    for qtype, make in TYPES:
        raw = np.ascontiguousarray(make(rng, qtype), dtype=np.uint8)
        blocks[qtype] = raw
        write(qtype.name + ".blocks", raw.tobytes())
        write(qtype.name + ".f32", dequantize(raw, qtype).tobytes())
    return blocks


# The tiny file's tensors: (name, type, numpy shape, i.e. [rows, row length]).
TINY_TENSORS = [
    ("plain.f32", T.F32, (3, 5)),
    ("plain.f16", T.F16, (2, 8)),
    ("plain.bf16", T.BF16, (4, 3)),
    ("block.q8_0", T.Q8_0, (2, 64)),
    ("block.q4_0", T.Q4_0, (3, 32)),
    ("block.q4_1", T.Q4_1, (1, 96)),
    ("kquant.q4_k", T.Q4_K, (2, 256)),
    ("kquant.q5_k", T.Q5_K, (1, 512)),
    ("kquant.q6_k", T.Q6_K, (3, 256)),
]


def make_tiny(blocks):
    path = os.path.join(OUT_DIR, "tiny.gguf")
    w = gguf.GGUFWriter(path, "llama")  # writes general.architecture first
    w.add_custom_alignment(64)          # general.alignment, UINT32
    w.add_uint8("test.uint8", 200)
    w.add_int8("test.int8", -100)
    w.add_uint16("test.uint16", 60000)
    w.add_int16("test.int16", -30000)
    w.add_uint32("test.uint32", 4000000000)
    w.add_int32("test.int32", -2000000000)
    w.add_float32("test.float32", 0.15625)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "h\u00e9llo \u2713")
    w.add_uint64("test.uint64", 2**40 + 3)
    w.add_int64("test.int64", -(2**40))
    w.add_float64("test.float64", 2.718281828459045)
    w.add_array("test.strings", ["<s>", "a", "\u00fc", "\u2713", "\u0120the"])
    w.add_key_value("test.int32s", [1, -2, 3, 2147483647], V.ARRAY, sub_type=V.INT32)
    w.add_key_value("test.float32s", [0.5, -1.25, 3.0], V.ARRAY, sub_type=V.FLOAT32)
    w.add_key_value("test.uint8s", [0, 255, 7], V.ARRAY, sub_type=V.UINT8)
    w.add_key_value("test.bools", [True, False], V.ARRAY, sub_type=V.BOOL)
    w.add_uint32("llama.block_count", 1)
    for name, qtype, shape in TINY_TENSORS:
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        n_bytes = shape[0] * shape[1] // block * size
        raw = blocks[qtype][:n_bytes].reshape(shape[0], -1)
        w.add_tensor(name, raw, raw_dtype=qtype)
    # A type AttnScope does not de-quantise (one block of random bytes).
    q2k = np.random.default_rng(SEED + 1).integers(0, 256, size=(1, 84), dtype=np.uint8)
    w.add_tensor("unsupported.q2_k", q2k, raw_dtype=T.Q2_K)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def check_tiny(path, blocks):
    """Read the file back with gguf-py: what the C test expects must hold."""
    r = gguf.GGUFReader(path)
    for name, qtype, shape in TINY_TENSORS:
        t = next(t for t in r.tensors if t.name == name)
        assert t.tensor_type == qtype, name
        assert list(t.shape) == [shape[1], shape[0]], (name, t.shape)
        want = dequantize(blocks[qtype], qtype)[: shape[0] * shape[1]]
        got = dequantize(np.asarray(t.data).view(np.uint8).reshape(-1), qtype)
        assert got.tobytes() == want.tobytes(), name


def make_seeds(blocks, tiny):
    """Small valid files for libFuzzer to mutate from."""
    os.makedirs(SEED_DIR, exist_ok=True)
    with open(tiny, "rb") as f, open(os.path.join(SEED_DIR, "tiny.gguf"), "wb") as out:
        out.write(f.read())
    for qtype, _ in TYPES:
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        n = 1 if block > 1 else 8
        w = gguf.GGUFWriter(os.path.join(SEED_DIR, qtype.name.lower() + ".gguf"), "llama")
        w.add_array("tokenizer.ggml.tokens", ["a", "b"])
        w.add_tensor("w", blocks[qtype][: n * size].reshape(1, -1), raw_dtype=qtype)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    w = gguf.GGUFWriter(os.path.join(SEED_DIR, "no-tensors.gguf"), "llama")
    w.add_uint32("llama.block_count", 1)
    w.add_float32("llama.rope.freq_base", 10000.0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def make_smollm2(path):
    r = gguf.GGUFReader(path)
    out = []
    for name, rows in SMOLLM2_ROWS:
        t = next(t for t in r.tensors if t.name == name)
        raw = np.asarray(t.data).view(np.uint8)  # [rows, bytes per row]
        for row in rows:
            out.append(dequantize(raw[row], t.tensor_type))
        print(f"{name}: {t.tensor_type.name} {list(t.shape)}, rows {rows}", file=sys.stderr)
    return write("smollm2.f32", np.concatenate(out).tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smollm2", help="SmolLM2-135M-Instruct.Q4_1.gguf, for smollm2.f32")
    args = ap.parse_args()
    os.makedirs(OUT_DIR, exist_ok=True)
    blocks = make_blocks()
    tiny = make_tiny(blocks)
    check_tiny(tiny, blocks)
    make_seeds(blocks, tiny)
    if args.smollm2:
        make_smollm2(args.smollm2)
    total = sum(os.path.getsize(os.path.join(OUT_DIR, f)) for f in os.listdir(OUT_DIR))
    print(f"wrote {OUT_DIR} ({total} bytes, gguf-py {importlib.metadata.version('gguf')})",
          file=sys.stderr)


if __name__ == "__main__":
    main()
