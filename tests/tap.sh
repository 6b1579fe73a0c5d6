# tests/tap.sh: the Test Anything Protocol helpers every shell suite sources.
#   ok DESCRIPTION · nok DESCRIPTION [DETAILS] · skip DESCRIPTION REASON
# A failure's details go to stdout as TAP comments and to stderr as well:
# meson prints a failed test's stderr in the CI log, not its comments.
n=0
fails=0
ok()   { n=$((n+1)); echo "ok $n - $1"; }
nok() {
  n=$((n+1)); fails=$((fails+1))
  echo "not ok $n - $1"
  [ -z "${2:-}" ] && return 0
  sed 's/^/# /' <<<"$2"
  { echo "not ok $n - $1"; sed 's/^/    /' <<<"$2"; } >&2
}
skip() { n=$((n+1)); echo "ok $n - $1 # SKIP $2"; }
