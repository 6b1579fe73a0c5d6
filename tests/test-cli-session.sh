#!/usr/bin/env bash
# test-cli-session.sh — attnscope-cli export --session, end to end, TAP.
# Usage: test-cli-session.sh CLI. Needs the default model (else skipped).
#
# A session file draws the same bytes as the explicit flags that say what it
# holds; flags given beside it win; a broken session or a missing model is
# refused with a message naming the cause, and no output file appears.
set -u
cli=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/tap.sh"

model=${ATTNSCOPE_MODEL_DIR:-}
if [ ! -f "$model/model.safetensors" ]; then
  echo "1..0 # SKIP the default model is not downloaded (${model:-ATTNSCOPE_MODEL_DIR unset}; run tools/setup)"
  exit 0
fi

text="The cat sat on the mat — très content."

# session FILE MODEL KEY=VALUE… : a session with the defaults below, KEYs replaced.
session() {
  local file=$1 m=$2; shift 2
  local -A v=([text]="$text" [pair]="" [compare]="" [view]=head [layer]=3 [head]=7 [token]=-1
              [teach-step]=embeddings [hide-special]=false [renormalise]=false [fit-scale]=false
              [words]=false [colormap]=magma [aggregate]=head)
  local kv
  for kv in "$@"; do v[${kv%%=*}]=${kv#*=}; done
  {
    echo "# AttnScope session"
    echo "[session]"
    echo "version=1"
    echo "model=$m"
    for k in text pair compare view layer head token teach-step; do echo "$k=${v[$k]}"; done
    echo "[options]"
    for k in hide-special renormalise fit-scale words colormap aggregate; do echo "$k=${v[$k]}"; done
  } >"$file"
}

# png_size FILE: "WIDTHxHEIGHT" from the PNG header.
png_size() {
  python3 -c '
import struct, sys
d = open(sys.argv[1], "rb").read(24)
assert d[:8] == b"\x89PNG\r\n\x1a\n" and d[12:16] == b"IHDR", "not a PNG"
print("%dx%d" % struct.unpack(">II", d[16:24]))' "$1"
}

# same NAME A B: ok when files A and B are identical.
same() {
  if cmp -s "$2" "$3"; then ok "$1"; else nok "$1" "$(ls -l "$2" "$3" 2>&1)"; fi
}

# 1-3. the session's figure: a PNG of the head view's size, byte for byte
# what the explicit flags draw (layer and head count from 1 on the command
# line, from 0 in the file).
session "$tmp/s.attnscope" "$model" hide-special=true
if "$cli" export --session "$tmp/s.attnscope" -o "$tmp/session.png" 2>"$tmp/err"; then
  ok "export --session writes a PNG"
else
  nok "export --session writes a PNG" "$(cat "$tmp/err")"
fi
"$cli" export --model "$model" --layer 4 --head 8 --colormap magma --hide-special --no-renormalise \
  --text "$text" -o "$tmp/flags.png" 2>"$tmp/err" || nok "explicit flags export" "$(cat "$tmp/err")"
size=$(png_size "$tmp/session.png" 2>&1)
want=$(png_size "$tmp/flags.png" 2>&1)
case $size in
  [0-9]*x[0-9]*) [ "$size" = "$want" ] && [ "${size%x*}" -ge 400 ] && ok "PNG is $size, as with the flags" \
                   || nok "PNG size" "session $size, flags $want" ;;
  *) nok "PNG size" "$size" ;;
esac
same "the session draws what its explicit flags draw" "$tmp/session.png" "$tmp/flags.png"

# 4. every option the file holds reaches the figure: mean of the layer's
# heads, words, fitted scale, rows renormalised, another colour map.
session "$tmp/opts.attnscope" "$model" layer=1 aggregate=mean words=true fit-scale=true \
  hide-special=true renormalise=true colormap=blues
"$cli" export --session "$tmp/opts.attnscope" -o "$tmp/opts.png" 2>"$tmp/err" || nok "options export" "$(cat "$tmp/err")"
"$cli" export --model "$model" --layer 2 --aggregate mean --words --fit-scale --hide-special --colormap blues \
  --text "$text" -o "$tmp/opts-flags.png" 2>"$tmp/err" || nok "options flags export" "$(cat "$tmp/err")"
same "aggregate, words, fit-scale, renormalise and colour map come from the session" \
  "$tmp/opts.png" "$tmp/opts-flags.png"

# 5-6. flags beside --session win: --head, --layer; and a text of one's own.
"$cli" export --session "$tmp/s.attnscope" --head 2 --layer 1 -o "$tmp/override.png" 2>"$tmp/err"
"$cli" export --model "$model" --layer 1 --head 2 --colormap magma --hide-special --no-renormalise \
  --text "$text" -o "$tmp/override-flags.png" 2>>"$tmp/err"
same "--layer and --head override the session's" "$tmp/override.png" "$tmp/override-flags.png"
"$cli" export --session "$tmp/s.attnscope" -o "$tmp/other-text.png" "Another sentence entirely." 2>"$tmp/err"
"$cli" export --model "$model" --layer 4 --head 8 --colormap magma --hide-special --no-renormalise \
  -o "$tmp/other-text-flags.png" "Another sentence entirely." 2>>"$tmp/err"
same "a text given on the command line replaces the session's" "$tmp/other-text.png" "$tmp/other-text-flags.png"

# 7. the session's highlighted token is drawn: the figure differs from the
# same session without one.
session "$tmp/token.attnscope" "$model" hide-special=true token=2
"$cli" export --session "$tmp/token.attnscope" -o "$tmp/token.png" 2>"$tmp/err"
if [ -s "$tmp/token.png" ] && ! cmp -s "$tmp/token.png" "$tmp/session.png"; then
  ok "the session's token is highlighted"
else
  nok "the session's token is highlighted" "$(cat "$tmp/err")"
fi

# 8. SVG, and a model path relative to the session's folder.
mkdir "$tmp/travel"
ln -s "$model" "$tmp/travel/the-model"
session "$tmp/travel/rel.attnscope" "the-model" hide-special=true
if "$cli" export --session "$tmp/travel/rel.attnscope" -o "$tmp/rel.svg" 2>"$tmp/err" &&
   head -c 5 "$tmp/rel.svg" | grep -q '<?xml'; then
  ok "a relative model path, drawn as SVG"
else
  nok "a relative model path, drawn as SVG" "$(cat "$tmp/err")"
fi

# 9-12. refusals: exit 1, the cause named, no output file.
refused() { # refused NAME WANT SESSION
  local name=$1 want=$2 file=$3
  rm -f "$tmp/out.png"
  "$cli" export --session "$file" -o "$tmp/out.png" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ $rc = 1 ] && grep -qF -- "$want" "$tmp/err" && [ ! -e "$tmp/out.png" ]; then
    ok "$name"
  else
    nok "$name" "exit $rc, no “$want” in: $(cat "$tmp/err")"
  fi
}
session "$tmp/bad-layer.attnscope" "$model" layer=9999
refused "an out-of-range layer names the key" "key “layer” in [session]: 9999 is outside" "$tmp/bad-layer.attnscope"
session "$tmp/gone.attnscope" "$tmp/no-such-model"
refused "a missing model names the model" "$tmp/no-such-model" "$tmp/gone.attnscope"
sed 's/^version=1$/version=7/' "$tmp/s.attnscope" >"$tmp/v7.attnscope"
refused "an unknown version says so" "version 7 is newer" "$tmp/v7.attnscope"
refused "a missing session file names it" "no-such.attnscope" "$tmp/no-such.attnscope"

echo "1..$n"
[ $fails = 0 ]
