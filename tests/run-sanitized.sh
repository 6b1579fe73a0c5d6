#!/usr/bin/env bash
# tests/run-sanitized.sh TEST [ARGS…]: the 'sanitize' setup's wrapper.
#
# LeakSanitizer checks for leaks at exit by stopping every thread from a
# tracer process; now and then that tracer itself crashes ("Tracer caught
# signal 11 … LeakSanitizer has encountered a fatal error"), a fault of the
# tool that says nothing about the program, and the run fails. The shell
# suites start the CLI hundreds of times, so one such fault per CI run is
# likely. This wrapper reruns a test once when, and only when, its output
# carries that fault and no report of a real error; it says so on stderr.
# Output is held until the run ends so a rerun's TAP does not follow the
# first run's; on a timeout what was held is printed before exiting.
set -u
held=$(mktemp -d "${TMPDIR:-/tmp}/attnscope-san-XXXXXX")
child=0
release() { cat "$held/stdout" 2>/dev/null; cat "$held/stderr" >&2 2>/dev/null; }
on_signal() {
  [ "$child" != 0 ] && kill -TERM "$child" 2>/dev/null && wait "$child"
  release; rm -rf "$held"; exit 143
}
trap on_signal TERM INT

"$@" >"$held/stdout" 2>"$held/stderr" &
child=$!; wait "$child"; rc=$?; child=0

tool_fault='LeakSanitizer has encountered a fatal error'
real_error='ERROR: (AddressSanitizer|LeakSanitizer): |runtime error:'
if [ "$rc" != 0 ] && grep -qF "$tool_fault" "$held/stdout" "$held/stderr" &&
   ! grep -qE "$real_error" "$held/stdout" "$held/stderr"; then
  {
    echo "run-sanitized: LeakSanitizer's tracer crashed in the first run (a fault of the tool); rerunning once."
    grep -hF -B2 "$tool_fault" "$held/stdout" "$held/stderr" | sed 's/^/run-sanitized:   /'
  } >&2
  rm -rf "$held"; trap - TERM INT
  exec "$@"
fi
release
rm -rf "$held"
exit "$rc"
