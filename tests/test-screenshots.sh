#!/usr/bin/env bash
# test-screenshots.sh SOURCE_DIR — the screenshots README.md and the AppStream
# metainfo show are in resources/screenshots/, are PNGs of the size they are
# taken at (the metainfo's width and height; 1400x900 windows, the 1920x1080
# projector, the 1000x1000 export) and not blank, each is one that
# tools/screenshots writes, and the set stays small. TAP output.
set -u
src=$1
. "$(dirname "$0")/tap.sh"

shots=$src/resources/screenshots
readme=$src/README.md
metainfo=$src/resources/io.github.attnscope.AttnScope.metainfo.xml
script=$src/tools/screenshots
url=https://raw.githubusercontent.com/attnscope/attnscope/main/resources/screenshots/

if ! command -v identify >/dev/null 2>&1; then
  echo "1..0 # SKIP imagemagick's identify is missing (tools/setup installs it)"
  exit 0
fi

# The size tools/screenshots takes NAME at.
expected_size() {
  case $1 in
    projector.png) echo 1920x1080 ;;
    export.png) echo 1000x1000 ;;
    *) echo 1400x900 ;;
  esac
}

# check_image WHERE NAME [WIDTHxHEIGHT]: NAME in resources/screenshots is a
# PNG of that size (default: expected_size) with more than one colour's
# worth of contrast.
check_image() {
  local where=$1 name=$2 want=${3:-$(expected_size "$2")} file=$shots/$2 info
  if [ ! -f "$file" ]; then
    nok "$where: $name is in resources/screenshots" "missing: $file (run tools/screenshots)"
    return
  fi
  if ! info=$(identify -format '%m %wx%h %[fx:standard_deviation]' "$file" 2>&1); then
    nok "$where: $name is an image" "$info"
    return
  fi
  read -r format size sd <<<"$info"
  if [ "$format" != PNG ]; then
    nok "$where: $name is a PNG" "identify says $format"
  elif [ "$size" != "$want" ]; then
    nok "$where: $name is ${want}" "it is $size (run tools/screenshots)"
  elif ! awk -v sd="$sd" 'BEGIN { exit !(sd > 0.05) }'; then
    nok "$where: $name is not blank" "standard deviation $sd (at most 0.05: one flat colour)"
  else
    ok "$where: $name, PNG $size, standard deviation $sd"
  fi
}

# README.md: every image under resources/screenshots/, relative.
readme_images=$(grep -o '](resources/screenshots/[^)]*)' "$readme" | sed 's|^](resources/screenshots/||; s|)$||' | sort -u)
if [ -z "$readme_images" ]; then
  nok "README.md shows screenshots" "no ](resources/screenshots/NAME.png) link in $readme"
fi
for name in main-window.png step-by-step.png export.png; do
  if grep -qx "$name" <<<"$readme_images"; then
    ok "README.md shows $name"
  else
    nok "README.md shows $name" "no ](resources/screenshots/$name) link"
  fi
done
for name in $readme_images; do
  check_image README.md "$name"
done
if grep -q 'tools/screenshots' "$readme"; then
  ok "README.md names tools/screenshots"
else
  nok "README.md names tools/screenshots" "say how the screenshots are regenerated"
fi

# The metainfo: absolute https URLs to the repository's copies, each with
# the size it declares, one default, every one with a caption.
n_meta=0
n_default=0
while read -r line; do
  n_meta=$((n_meta + 1))
  img=$(sed -n 's|.*<image[^>]*>\([^<]*\)</image>.*|\1|p' <<<"$line")
  w=$(sed -n 's|.*width="\([0-9]*\)".*|\1|p' <<<"$line")
  h=$(sed -n 's|.*height="\([0-9]*\)".*|\1|p' <<<"$line")
  case $img in
    "$url"*.png) ;;
    *) nok "metainfo: $img is under $url"; continue ;;
  esac
  name=${img#"$url"}
  if [ -z "$w" ] || [ -z "$h" ]; then
    nok "metainfo: $name declares its width and height"
    continue
  fi
  [ "${w}x${h}" = "$(expected_size "$name")" ] \
    || nok "metainfo: $name is declared at its size" "declared ${w}x${h}, taken at $(expected_size "$name")"
  check_image metainfo "$name" "${w}x${h}"
done < <(grep -o '<image[^>]*>[^<]*</image>' "$metainfo")
[ $n_meta -gt 0 ] || nok "the metainfo has screenshots" "no <image> in $metainfo"
n_default=$(grep -c '<screenshot type="default">' "$metainfo")
[ "$n_default" -eq 1 ] || nok "the metainfo has one default screenshot" "$n_default"
n_screens=$(grep -c '<screenshot[ >]' "$metainfo")
n_captions=$(grep -c '<caption>[^<][^<]*</caption>' "$metainfo")
if [ "$n_screens" -eq "$n_meta" ] && [ "$n_captions" -eq "$n_screens" ]; then
  ok "metainfo: $n_screens screenshots, each with one image and a caption"
else
  nok "metainfo: each screenshot has one image and a caption" \
      "$n_screens screenshots, $n_meta images, $n_captions captions"
fi

# Every file there is one tools/screenshots writes (none made by hand, none
# left over), and the set stays small enough for the repository.
total=0
for file in "$shots"/*; do
  name=$(basename "$file")
  stem=${name%.png}
  if [ "$name" = "$stem" ] || ! grep -Eq "(save $stem\$|/$name\")" "$script"; then
    nok "$name is written by tools/screenshots" "nothing in $script writes it"
  fi
  size=$(stat -c %s "$file")
  total=$((total + size))
  [ "$size" -le $((300 * 1024)) ] || nok "$name is at most 300 KB" "$((size / 1024)) KB"
done
if [ "$total" -le $((1200 * 1024)) ]; then
  ok "the screenshots take $((total / 1024)) KB (at most 1200)"
else
  nok "the screenshots take at most 1200 KB" "$((total / 1024)) KB"
fi

echo "1..$n"
[ $fails -eq 0 ]
