#!/usr/bin/env bash
# test-install.sh BUILD_DIR SOURCE_DIR — `meson install` into a scratch
# DESTDIR puts the app, its desktop file, metainfo and icon (and the default
# model, when tools/setup fetched it) where a desktop finds them. TAP output.
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
if [ -f "$src/data/models/all-MiniLM-L6-v2/model.safetensors" ]; then
  check "the default model, where the installed app looks" "*/share/attnscope/models/all-MiniLM-L6-v2/model.safetensors"
else
  n=$((n+1)); echo "ok $n - default model # SKIP not downloaded (run tools/setup)"
fi
echo "1..$n"
[ $fails -eq 0 ]
