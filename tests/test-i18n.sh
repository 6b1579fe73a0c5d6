#!/usr/bin/env bash
# test-i18n.sh SOURCE_DIR ATTNSCOPE — the translations are wired: what
# resources/po/POTFILES.in lists exists and covers every file with strings
# marked for translation; the templates mark every user-visible string;
# xgettext finds the strings of both kinds; and a catalogue written here,
# installed in a scratch folder (ATTNSCOPE_LOCALEDIR) and nowhere else,
# translates the app's --help without any change to the code. TAP output.
# test-i18n-gui.c does the same for the window's templates and widgets.
set -u
src=$1
app=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/tap.sh"
cd "$src" || exit 1
potfiles=resources/po/POTFILES.in

# --- POTFILES.in --------------------------------------------------------------
listed=$(grep -v -e '^#' -e '^[[:space:]]*$' "$potfiles")
missing=""
for f in $listed; do [ -f "$f" ] || missing+="$f "; done
if [ -z "$missing" ]; then ok "every file POTFILES.in lists exists"; else nok "POTFILES.in lists missing files" "$missing"; fi

# Sources that mark strings (_() or N_() in C, translatable="yes" in a
# template) must be listed, or their strings never reach a catalogue.
unlisted=""
for f in $(grep -rlE '(^|[^A-Za-z0-9_])N?_\("' app ui --include='*.c') \
         $(grep -rl 'translatable="yes"' app ui resources --include='*.ui'); do
  grep -qxF "$f" <<<"$listed" || unlisted+="$f "
done
if [ -z "$unlisted" ]; then ok "every file with marked strings is in POTFILES.in"
else nok "files with marked strings missing from POTFILES.in" "$unlisted"; fi

# --- the templates mark what the user reads -------------------------------------
# A property a person reads (or hears from a screen reader), a menu item's
# label or a string list item, holding a word, without translatable="yes".
# Names stay as they are: the app's, and the colour maps' (the names the
# CLI's --colormap takes).
visible='label|title|subtitle|tooltip-text|tooltip-markup|placeholder-text|text|description|heading|body'
unmarked=$(grep -nE "<(property|attribute) name=\"($visible)\"[^>]*>[^<]*[A-Za-z]{2}|<item( [^>]*)?>[^<]*[A-Za-z]{2}" \
             $(grep -E '\.ui$' <<<"$listed") | grep -v 'translatable="yes"' |
             grep -vE '>(AttnScope|viridis|magma|blues|greys)<')
if [ -z "$unmarked" ]; then ok "every user-visible string of the templates is marked translatable"
else nok "template strings not marked translatable" "$unmarked"; fi

# --- xgettext finds them --------------------------------------------------------
if ! command -v xgettext >/dev/null || ! command -v msgfmt >/dev/null; then
  skip "xgettext and msgfmt" "gettext not installed (tools/setup installs it)"
  echo "1..$n"; [ $fails -eq 0 ]; exit
fi
# The keywords of meson's i18n 'glib' preset (resources/po/meson.build).
if xgettext --from-code=UTF-8 --add-comments --keyword=_ --keyword=N_ --keyword=C_:1c,2 \
     --keyword=NC_:1c,2 --keyword=g_dngettext:2,3 --directory="$src" --files-from="$potfiles" \
     --output="$tmp/attnscope.pot" 2>"$tmp/xgettext.err"; then
  ok "xgettext reads every file of POTFILES.in"
else
  nok "xgettext over POTFILES.in" "$(cat "$tmp/xgettext.err")"
fi
has_msgid() {  # has_msgid DESCRIPTION MSGID
  if grep -qxF "msgid \"$2\"" "$tmp/attnscope.pot"; then ok "the template catalogue has $1"
  else nok "the template catalogue lacks $1: \"$2\""; fi
}
has_msgid "a menu item of the window's template" "_Open Model…"
has_msgid "a keyboard shortcut's title (help-overlay.ui)" "Open a model folder"
has_msgid "an option of --help (N_ in as-application.c)" "Read sentence A from a file"
has_msgid "the token strip's tooltip (_ in a widget)" "#%d “%s”  id %d, added by the tokenizer"
has_msgid "a statistic's name (N_ in a table)" "Mean distance"

# --- a catalogue added without code changes translates the app -------------------
# LANGUAGE picks the catalogue; gettext ignores it in the "C" locale, not in
# C.UTF-8, which every Debian system has.
if ! locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then
  skip "a translated --help" "no C.UTF-8 locale"
else
  mkdir -p "$tmp/locale/eo/LC_MESSAGES"
  cat >"$tmp/eo.po" <<'EOF'
msgid ""
msgstr "Content-Type: text/plain; charset=UTF-8\n"

msgid "Read sentence A from a file"
msgstr "Legi frazon A el dosiero"

msgid "— explore the attention of a transformer model"
msgstr "— esploru la atenton de transformila modelo"
EOF
  msgfmt -o "$tmp/locale/eo/LC_MESSAGES/attnscope.mo" "$tmp/eo.po"
  plain=$(env -u DISPLAY -u WAYLAND_DISPLAY LANGUAGE=eo LC_ALL=C.UTF-8 ATTNSCOPE_LOCALEDIR="$tmp/none" "$app" --help 2>&1)
  if grep -q 'Read sentence A from a file' <<<"$plain"; then ok "without a catalogue --help is in English"
  else nok "without a catalogue --help is in English" "$plain"; fi
  out=$(env -u DISPLAY -u WAYLAND_DISPLAY LANGUAGE=eo LC_ALL=C.UTF-8 ATTNSCOPE_LOCALEDIR="$tmp/locale" "$app" --help 2>&1)
  if grep -q -- '--text-file=FILE  *Legi frazon A el dosiero' <<<"$out" &&
     grep -q 'esploru la atenton de transformila modelo' <<<"$out" &&
     ! grep -q 'Read sentence A from a file' <<<"$out"; then
    ok "with the catalogue --help is translated (an option, the summary line)"
  else
    nok "with the catalogue --help is translated" "$out"
  fi
fi

echo "1..$n"
[ $fails -eq 0 ]
