#!/usr/bin/env python3
"""make-overflow-model.py SRC DST [LAYER] — copy a BERT model folder with
one layer's query and key weights scaled by 1e18.

The weights stay finite (the loader accepts them) but Q.K overflows float32,
so that layer's attention comes out NaN: the input for the tests that check
a non-finite layer is refused instead of drawn or written. LAYER counts from
1 (default 1). Standard library only."""
import array
import json
import shutil
import struct
import sys

src, dst = sys.argv[1], sys.argv[2]
layer = int(sys.argv[3]) - 1 if len(sys.argv) > 3 else 0
shutil.copytree(src, dst)
path = dst + "/model.safetensors"
raw = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
for part in ("query", "key"):
    info = header["encoder.layer.%d.attention.self.%s.weight" % (layer, part)]
    assert info["dtype"] == "F32", info["dtype"]
    begin, end = (8 + n + o for o in info["data_offsets"])
    values = array.array("f", bytes(raw[begin:end]))
    values = array.array("f", (v * 1e18 for v in values))
    raw[begin:end] = values.tobytes()
open(path, "wb").write(raw)
