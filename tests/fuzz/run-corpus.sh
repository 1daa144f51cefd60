#!/bin/sh
# Replays one fuzz harness's corpus and reports it as TAP (one test case per harness).
#
#   run-corpus.sh [path/]fuzz-<name>.replay
#
# make check runs it as the log compiler of every *.replay test. The corpus is
# $FUZZ_CORPUS_DIR/<name> (make check sets FUZZ_CORPUS_DIR to tests/fuzz/corpus of the source
# tree; by default, the corpus/ beside this script). A crash, a sanitizer report or an
# unreadable file is "not ok", with the input being replayed and the end of the output.
# FUZZ_REPLAY_TIMEOUT (seconds, default 600) bounds the whole replay.
set -u

if [ $# -lt 1 ]; then
  echo "usage: $0 [path/]fuzz-<name>.replay" >&2
  exit 2
fi
bin=$1
case $bin in */*) ;; *) bin=./$bin ;; esac
prog=$(basename "$bin" .replay)
name=${prog#fuzz-}
corpus_root=${FUZZ_CORPUS_DIR:-$(cd "$(dirname "$0")" && pwd)/corpus}
corpus_root=$(cd "$corpus_root" 2>/dev/null && pwd) || corpus_root=${FUZZ_CORPUS_DIR:-corpus}
corpus=$corpus_root/$name

echo "1..1"
if [ ! -d "$corpus" ]; then
  echo "ok 1 - $prog # SKIP no corpus directory $corpus"
  exit 0
fi
files=$(find "$corpus" -type f ! -name '.*' | wc -l | tr -d ' ')

out=$(mktemp "${TMPDIR:-/tmp}/replay-$name.XXXXXX") || exit 99
trap 'rm -f "$out"' EXIT

if command -v timeout >/dev/null 2>&1; then
  timeout "${FUZZ_REPLAY_TIMEOUT:-600}" "$bin" "$corpus" >"$out" 2>&1
else
  "$bin" "$corpus" >"$out" 2>&1
fi
status=$?

if [ $status -eq 0 ] && grep -q "^replayed $files inputs\$" "$out"; then
  echo "ok 1 - $prog: $files inputs from $corpus"
  exit 0
fi

last=$(grep '^replay: ' "$out" | tail -n 1 | sed 's/^replay: //')
case $status in
  124) why="timed out after ${FUZZ_REPLAY_TIMEOUT:-600}s" ;;
  0) why="replayed a different number of inputs than the $files files" ;;
  *) why="exit status $status" ;;
esac
echo "not ok 1 - $prog: $why; last input: ${last:-none}"
tail -n 40 "$out" | sed 's/^/# /'
exit 0
