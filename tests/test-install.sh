#!/usr/bin/env bash
# test-install.sh BUILD_DIR SOURCE_DIR — `meson install` into a scratch
# DESTDIR puts the app, its desktop file, metainfo, MIME types and icon (and
# the default model, when tools/setup fetched it) where a desktop finds
# them; a MIME database built from what was installed names a GGUF file and
# a session by the types the desktop file opens. TAP output.
set -u
build=$1
src=$2
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
. "$(dirname "$0")/tap.sh"

if ! out=$(meson install -C "$build" --destdir "$dest" --no-rebuild 2>&1); then
  echo "not ok 1 - meson install"; sed 's/^/# /' <<<"$out"; echo "1..1"; exit 1
fi
ok "meson install into a DESTDIR"

check() {  # check DESCRIPTION PATTERN
  local hit
  hit=$(find "$dest" -path "$2" -type f | head -n1)
  if [ -n "$hit" ]; then ok "$1 (${hit#$dest})"; else nok "$1: nothing matches $2"; fi
}
id=io.github.attnscope.AttnScope
check "the app" "*/bin/attnscope"
check "its desktop file" "*/share/applications/$id.desktop"
check "its AppStream metainfo" "*/share/metainfo/$id.metainfo.xml"
check "its icon" "*/share/icons/hicolor/scalable/apps/$id.svg"
check "its MIME types" "*/share/mime/packages/$id.xml"

# A file's type as GLib guesses it (name and content) with the installed
# types in a database of their own.
mime_xml=$(find "$dest" -path "*/share/mime/packages/$id.xml" -type f | head -n1)
desktop=$(find "$dest" -path "*/share/applications/$id.desktop" -type f | head -n1)
if [ -n "$mime_xml" ] && update-mime-database "${mime_xml%/packages/*}" 2>"$dest/mime.err"; then
  share=${mime_xml%/mime/packages/*}
  type_of() {
    XDG_DATA_HOME="$dest/none" XDG_DATA_DIRS="$share:/usr/share" \
      gio info -a standard::content-type "$1" 2>&1 | sed -n 's/^ *standard::content-type: //p'
  }
  printf 'GGUF\003\000\000\000' >"$dest/model.gguf"
  printf 'GGUF\003\000\000\000' >"$dest/renamed.bin"
  printf '# AttnScope session\n[session]\nversion=1\n' >"$dest/talk.attnscope"
  opens=$(sed -n 's/^MimeType=//p' "$desktop")
  for f in model.gguf:application/x-gguf renamed.bin:application/x-gguf \
           talk.attnscope:application/x-attnscope-session; do
    file=${f%%:*} want=${f#*:}
    got=$(type_of "$dest/$file")
    case ";$opens" in
      *";$want;"*) listed=yes ;;
      *) listed=no ;;
    esac
    if [ "$got" = "$want" ] && [ $listed = yes ]; then
      ok "$file is $want, which the desktop file opens"
    else
      nok "$file is $want, which the desktop file opens" "guessed '$got'; MimeType=$opens"
    fi
  done
else
  nok "update-mime-database on the installed types" "$(cat "$dest/mime.err" 2>/dev/null)"
fi
if [ -f "$src/data/models/all-MiniLM-L6-v2/model.safetensors" ]; then
  check "the default model, where the installed app looks" "*/share/attnscope/models/all-MiniLM-L6-v2/model.safetensors"
else
  n=$((n+1)); echo "ok $n - default model # SKIP not downloaded (run tools/setup)"
fi
echo "1..$n"
[ $fails -eq 0 ]
