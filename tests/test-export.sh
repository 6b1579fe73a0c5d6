#!/usr/bin/env bash
# test-export.sh — attnscope-cli export and dump --format npy, end to end, TAP.
# Usage: test-export.sh CLI. Needs the default model (else the model parts
# are skipped); rsvg-convert and pdfinfo come with tools/setup.
set -u
cli=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/tap.sh"
check() { # check NAME COMMAND… : ok when the command succeeds, else its output
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then ok "$name${out:+ ($out)}"; else nok "$name" "$out"; fi
}

have_model=1
[ -f "${ATTNSCOPE_MODEL_DIR:-}/model.safetensors" ] || have_model=0
have() { command -v "$1" >/dev/null 2>&1; }

text="The animal didn't cross the street because it was too tired."

# Python helpers (stdlib only): a PNG decoder and the .npy reader.
cat >"$tmp/png.py" <<'PY'
import struct, zlib

def read_png(path):
    """(width, height, rows) with rows[y][x] = (r, g, b); 8-bit RGB/RGBA only."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        assert zlib.crc32(kind + body) & 0xffffffff == crc, "bad CRC in " + kind.decode()
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, rows
PY

export_ok() { # export_ok FILE ARGS… : runs export, output to FILE
  local file=$1; shift
  "$cli" export --text "$text" -o "$file" "$@" 2>"$tmp/err" >"$tmp/layout"
}

# 1-12. every view to every format, each file valid
if [ $have_model = 1 ]; then
  for view in head layer grid mean; do
    for fmt in png svg pdf; do
      f="$tmp/$view.$fmt"
      # Each view takes only the selectors it uses (grid: none; layer, mean: --layer).
      case $view in head) sel="--layer 2 --head 3" ;; grid) sel="" ;; *) sel="--layer 2" ;; esac
      # shellcheck disable=SC2086
      if ! export_ok "$f" --view $view $sel; then
        nok "export --view $view to $fmt" "$(cat "$tmp/err")"; continue
      fi
      case $fmt in
        png) msg=$(python3 -c "
import sys; sys.path.insert(0, '$tmp'); from png import read_png
w, h, rows = read_png('$f'); assert w > 100 and h > 100; print('%dx%d' % (w, h))" 2>&1) ;;
        svg) if have rsvg-convert; then
               msg=$(rsvg-convert "$f" -o "$f.png" 2>&1 && [ -s "$f.png" ] && echo "rsvg-convert renders it")
             else msg=$(grep -q '<svg' "$f" && echo "no rsvg-convert: header only"); fi ;;
        pdf) if have pdfinfo; then
               msg=$(pdfinfo "$f" 2>&1 | grep -E '^Pages: +1$') || msg="pdfinfo: $(pdfinfo "$f" 2>&1)"
               grep -q '^Pages' <<<"$msg" || false
             else msg=$(head -c 5 "$f" | grep -q '%PDF-' && echo "no pdfinfo: header only"); fi ;;
      esac
      if [ $? = 0 ]; then ok "export --view $view to $fmt is valid ($msg)"
      else nok "export --view $view to $fmt is valid" "$msg"; fi
    done
  done
else
  for view in head layer grid mean; do for fmt in png svg pdf; do
    skip "export --view $view to $fmt" "default model not downloaded"; done; done
fi

# 13. SVG and PDF cells are vector: no embedded image
if [ $have_model = 1 ]; then
  bad=$(grep -l '<image' "$tmp"/*.svg 2>/dev/null)
  imgs=$(for f in "$tmp"/*.pdf; do grep -a -c '/Subtype */Image' "$f"; done | awk '{s+=$1} END {print s+0}')
  if [ -z "$bad" ] && [ "$imgs" = 0 ]; then ok "SVG and PDF contain no bitmap images"
  else nok "SVG and PDF contain no bitmap images" "svg with <image: $bad; pdf images: $imgs"; fi
else skip "no bitmaps in SVG/PDF" "default model not downloaded"; fi

# 14. the SVG, rasterised, matches the PNG at every cell centre
if [ $have_model = 1 ] && have rsvg-convert; then
  export_ok "$tmp/c.png" --view head --layer 4 --head 7 --width 700 --height 700 --print-layout &&
    cp "$tmp/layout" "$tmp/c.png.layout" &&
    export_ok "$tmp/c.svg" --view head --layer 4 --head 7 --width 700 --height 700 --print-layout &&
    cp "$tmp/layout" "$tmp/c.svg.layout" && rsvg-convert "$tmp/c.svg" -o "$tmp/c-svg.png"
  msg=$(python3 - "$tmp" <<'PY' 2>&1
import json, sys
sys.path.insert(0, sys.argv[1]); from png import read_png
t = sys.argv[1]
a = json.loads(open(t + "/c.png.layout").readline())
b = json.loads(open(t + "/c.svg.layout").readline())
assert a == b, (a, b)
w1, h1, png = read_png(t + "/c.png")
w2, h2, svg = read_png(t + "/c-svg.png")
assert (w1, h1) == (w2, h2) == (700, 700), (w1, h1, w2, h2)
worst, cells = 0, 0
for i in range(a["n"]):
    for j in range(a["n"]):
        x = int(a["cells_x"] + (j + 0.5) * a["cell"]); y = int(a["cells_y"] + (i + 0.5) * a["cell"])
        worst = max(worst, max(abs(p - q) for p, q in zip(png[y][x], svg[y][x])))
        cells += 1
print("%d cells, worst channel difference %d" % (cells, worst))
sys.exit(0 if worst <= 3 and cells > 100 else 1)
PY
)
  if [ $? = 0 ]; then ok "SVG matches PNG at cell centres ($msg)"; else nok "SVG matches PNG at cell centres" "$msg"; fi
else skip "SVG matches PNG" "needs the model and rsvg-convert"; fi

# 15. sizes: PNG in pixels, PDF page in points
if [ $have_model = 1 ] && have pdfinfo; then
  export_ok "$tmp/s.png" --view grid --width 640 --height 480 &&
    export_ok "$tmp/s.pdf" --view head --width 400pt --height 300pt &&
    export_ok "$tmp/d.pdf" --view head
  msg=$(python3 -c "
import sys; sys.path.insert(0, '$tmp'); from png import read_png
w, h, _ = read_png('$tmp/s.png'); assert (w, h) == (640, 480), (w, h)" 2>&1 &&
        pdfinfo "$tmp/s.pdf" | grep -E '^Page size: +400 x 300 pts' &&
        pdfinfo "$tmp/d.pdf" | grep -E '^Page size: +675 x 675 pts')
  if [ $? = 0 ]; then ok "PNG is 640x480 px; PDF pages 400x300 pt and 675x675 pt (900 px default)"
  else nok "PNG/PDF sizes" "$msg"; fi
else skip "PNG/PDF sizes" "needs the model and pdfinfo"; fi

# 16. options: colour maps, annotations, word level, hidden specials, dark
if [ $have_model = 1 ]; then
  msg=""
  for opts in "--colormap magma --annotate" "--colormap greys --dark" "--colormap blues --word-level" \
              "--hide-special" "--hide-special --no-renormalise --word-level" "--view mean --annotate"; do
    # shellcheck disable=SC2086
    export_ok "$tmp/o.png" $opts || msg="$msg$opts: $(cat "$tmp/err")"$'\n'
  done
  if [ -z "$msg" ]; then ok "colour maps, annotations, word level, hidden specials, dark all export"
  else nok "export options" "$msg"; fi
else skip "export options" "default model not downloaded"; fi

# 17. bad layer/head/view are refused with a message, and no file appears
if [ $have_model = 1 ]; then
  msg=""
  export_ok "$tmp/bad.png" --layer 7 && msg="layer 7 accepted"
  grep -q "layer 7" "$tmp/err" || msg="$msg; no 'layer 7' in: $(cat "$tmp/err")"
  export_ok "$tmp/bad.png" --head 0 && msg="$msg; head 0 accepted"
  export_ok "$tmp/bad.png" --view diagonal && msg="$msg; --view diagonal accepted"
  "$cli" export --text "$text" -o "$tmp/bad.gif" 2>/dev/null && msg="$msg; .gif accepted"
  [ -e "$tmp/bad.png" ] || [ -e "$tmp/bad.gif" ] && msg="$msg; a file was left"
  if [ -z "$msg" ]; then ok "bad layer, head, view and format are refused"; else nok "bad options" "$msg"; fi
else skip "bad options" "default model not downloaded"; fi

# 18. dump --format npy: header per the spec, values equal to the JSON dump
if [ $have_model = 1 ]; then
  "$cli" dump --format npy -o "$tmp/a.npy" --pair "It was tired." "$text" 2>"$tmp/err" &&
    "$cli" dump --format json -o "$tmp/a.json" --pair "It was tired." "$text" 2>>"$tmp/err"
  msg=$(python3 - "$tmp/a.npy" "$tmp/a.json" <<'PY' 2>&1
import ast, json, struct, sys
raw = open(sys.argv[1], "rb").read()
assert raw[:6] == b"\x93NUMPY" and raw[6:8] == b"\x01\x00", raw[:8]
hlen = struct.unpack("<H", raw[8:10])[0]
assert (10 + hlen) % 64 == 0, "data not 64-byte aligned"
header = raw[10:10 + hlen].decode("latin1")
assert header.endswith("\n"), "header must end with a newline"
meta = ast.literal_eval(header.strip())
assert meta["descr"] == "<f4" and meta["fortran_order"] is False, meta
d = json.load(open(sys.argv[2]))
L, H, N = d["n_layers"], d["n_heads"], d["n_tokens"]
assert meta["shape"] == (L, H, N, N), (meta["shape"], (L, H, N, N))
body = raw[10 + hlen:]
assert len(body) == 4 * L * H * N * N, len(body)
vals = struct.unpack("<%df" % (L * H * N * N), body)
flat = [struct.unpack("<f", struct.pack("<f", v))[0]
        for layer in d["attention"] for head in layer for row in head for v in row]
diff = max(abs(a - b) for a, b in zip(vals, flat))
assert diff == 0, "max difference %g" % diff
print("shape %s, %d values identical" % (meta["shape"], len(vals)))
PY
)
  if [ $? = 0 ]; then ok "dump --format npy: valid header, values equal the JSON ($msg)"
  else nok "dump --format npy" "$msg$(cat "$tmp/err")"; fi
else skip "dump --format npy" "default model not downloaded"; fi

# 19-21. failures leave no file and no temporary file, and name the path
if [ $have_model = 1 ]; then
  mkdir "$tmp/out"
  for target in "$tmp/out/missing/x.png" "/proc/as-export-test.pdf" "$tmp/out/missing/x.npy"; do
    case $target in
      *.npy) "$cli" dump --format npy -o "$target" "$text" 2>"$tmp/err"; rc=$? ;;
      *) export_ok "$target"; rc=$? ;;
    esac
    if [ $rc != 0 ] && grep -qF "$target" "$tmp/err" && [ -z "$(ls -A "$tmp/out")" ] &&
       [ ! -e "$target" ] && [ -z "$(ls -A /proc | grep -F as-export-test)" ]; then
      ok "unwritable $(basename "$target"): exit $rc, message names it, nothing left"
    else nok "unwritable $target" "rc=$rc; $(cat "$tmp/err"); left: $(ls -A "$tmp/out")"; fi
  done
else
  for i in 1 2 3; do skip "unwritable destination $i" "default model not downloaded"; done
fi

# 22. a successful export leaves only the file (no temporary beside it)
if [ $have_model = 1 ]; then
  mkdir -p "$tmp/clean"
  if export_ok "$tmp/clean/fig.pdf" --view grid && [ "$(ls -A "$tmp/clean")" = "fig.pdf" ]; then
    ok "export leaves exactly the named file"
  else nok "export leaves exactly the named file" "$(ls -A "$tmp/clean"; cat "$tmp/err")"; fi
else skip "clean export" "default model not downloaded"; fi

# 23. what a view or format cannot honour is refused (exit 2), and no file appears
if [ $have_model = 1 ]; then
  mkdir -p "$tmp/refuse"
  msg=""
  for args in "--format svg -o $tmp/refuse/x.png" "--format png -o $tmp/refuse/x.pdf" \
              "--no-renormalise -o $tmp/refuse/x.png" \
              "--view grid --layer 3 --head 5 -o $tmp/refuse/x.png" "--view grid --layer 2 -o $tmp/refuse/x.png" \
              "--view layer --layer 2 --head 5 -o $tmp/refuse/x.png" "--view mean --head 1 -o $tmp/refuse/x.png" \
              "-o $tmp/refuse/x.txt" "--format png" "--layer 0 -o $tmp/refuse/x.png"; do
    # shellcheck disable=SC2086
    "$cli" export --text "$text" $args >/dev/null 2>"$tmp/err"; rc=$?
    [ $rc = 2 ] || msg="$msg$args: exit $rc: $(head -1 "$tmp/err")"$'\n'
  done
  [ -z "$(ls -A "$tmp/refuse")" ] || msg="${msg}left: $(ls -A "$tmp/refuse")"
  if [ -z "$msg" ]; then ok "format/extension mismatch, --no-renormalise alone, selectors a view ignores: exit 2, no file"
  else nok "options export cannot honour" "$msg"; fi
else skip "options export cannot honour" "default model not downloaded"; fi

# 24. what the head view shows: mean, max and rollout, alone, in words and
# without specials; --view mean is --aggregate mean; --word-level is --words
if [ $have_model = 1 ]; then
  msg=""
  for agg in mean max rollout; do
    for opts in "" "--words" "--words --hide-special"; do
      # shellcheck disable=SC2086
      export_ok "$tmp/agg.png" --aggregate $agg --layer 3 $opts || msg="$msg$agg $opts: $(cat "$tmp/err")"$'\n'
    done
  done
  export_ok "$tmp/m1.png" --view mean --layer 4 && export_ok "$tmp/m2.png" --aggregate mean --layer 4 &&
    cmp -s "$tmp/m1.png" "$tmp/m2.png" || msg="$msg--view mean differs from --aggregate mean"$'\n'
  export_ok "$tmp/w1.png" --layer 2 --head 3 --words && export_ok "$tmp/w2.png" --layer 2 --head 3 --word-level &&
    cmp -s "$tmp/w1.png" "$tmp/w2.png" || msg="$msg--word-level differs from --words"$'\n'
  if [ -z "$msg" ]; then ok "--aggregate mean, max, rollout (with --words, --hide-special) export; aliases agree"
  else nok "--aggregate" "$msg"; fi
else skip "--aggregate" "default model not downloaded"; fi

# 25. rows as shown: words, hidden specials ([MASK] stays; only [CLS] [SEP]
# stay too), one sentence of a pair, counted against tokenize's JSON
if [ $have_model = 1 ]; then
  layout_n() { # layout_n TEXT ARGS… : the n of the figure's one panel
    local t=$1; shift
    "$cli" export --text "$t" -o "$tmp/n.png" --print-layout "$@" 2>"$tmp/err" | sed -n 's/.*"n": \([0-9]*\),.*/\1/p'
  }
  msg=""
  for t in "Unaffable people are rarely liked." "Is it [MASK]?" ""; do
    "$cli" tokenize --format json "$t" >"$tmp/tok.json" 2>"$tmp/err" || msg="${msg}tokenize '$t' failed"$'\n'
    want=$(python3 - "$tmp/tok.json" <<'PY'
import json, sys
toks = json.load(open(sys.argv[1]))["tokens"]
words = sum(1 for i, t in enumerate(toks)
            if not (t["continuation"] and not t["special"] and i > 0 and not toks[i - 1]["special"]))
frame = sum(1 for t in toks if t["special"] and (t["sequence"] < 0 or t["text"] in ("[CLS]", "[SEP]")))
print(words, len(toks) - frame if frame < len(toks) else len(toks))
PY
)
    words=${want% *}; kept=${want#* }
    got=$(layout_n "$t" --aggregate rollout --layer 3 --words)
    [ "$got" = "$words" ] || msg="$msg'$t' --words: n=$got, want $words"$'\n'
    got=$(layout_n "$t" --hide-special)
    [ "$got" = "$kept" ] || msg="$msg'$t' --hide-special: n=$got, want $kept $(cat "$tmp/err")"$'\n'
  done
  got=$(layout_n "First one." --pair "Then the second one." --sentence b --hide-special)
  [ "$got" = 5 ] || msg="$msg--sentence b --hide-special: n=$got, want 5 (then the second one .)"$'\n'
  if [ -z "$msg" ]; then ok "rows: words, the hide-special rule ([MASK] kept; [CLS] [SEP] alone kept), --sentence b"
  else nok "rows as shown" "$msg"; fi
else skip "rows as shown" "default model not downloaded"; fi

# 26. --aggregate and --sentence where they cannot apply: exit 2, no file
if [ $have_model = 1 ]; then
  mkdir -p "$tmp/refuse2"
  msg=""
  for args in "--aggregate median" "--aggregate rollout --head 2" "--aggregate mean --view grid" \
              "--aggregate max --view layer" "--aggregate max --view mean" "--sentence b" \
              "--sentence c --pair x"; do
    # shellcheck disable=SC2086
    "$cli" export --text "$text" $args -o "$tmp/refuse2/x.png" >/dev/null 2>"$tmp/err"; rc=$?
    [ $rc = 2 ] || msg="$msg$args: exit $rc: $(head -1 "$tmp/err")"$'\n'
  done
  [ -z "$(ls -A "$tmp/refuse2")" ] || msg="${msg}left: $(ls -A "$tmp/refuse2")"
  if [ -z "$msg" ]; then ok "--aggregate/--sentence a view or input cannot honour: exit 2, no file"
  else nok "--aggregate/--sentence refused" "$msg"; fi
else skip "--aggregate/--sentence refused" "default model not downloaded"; fi

echo "1..$n"
