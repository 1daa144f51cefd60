# shellcheck shell=bash disable=SC2034 # (variables are for the scripts that source this file)
# tests/demo/common.sh: what demo.sh (./quickstart demo) and run.sh (./quickstart run) share:
# finding the programs of a build tree, the demo users, starting and stopping daemons by PID,
# bounded waits. Sourced, not run.

# The four programs of BUILD-DIR go first in PATH, so the commands shown read as an operator
# would type them (mikeykmsd ..., not /long/path/build/src/kms/mikeykmsd ...).
use_build_tree() {
  local build=$1 p
  for p in kms/mikeykmsd focus/mikeyconfd ctl/mikeyconfctl ua/mikeyua; do
    [[ -x $build/src/$p ]] || { printf '%s: %s/src/%s is missing (build first)\n' "$PROG" "$build" "$p" >&2; exit 2; }
  done
  PATH=$build/src/kms:$build/src/focus:$build/src/ctl:$build/src/ua:$PATH
  export PATH
}

# The demo users: alice may create conferences, the others may only join.
DEMO_DOMAIN=example.org
DEMO_CREATOR=alice
DEMO_MEMBERS=(bob carol dave erin)

uri_of() { printf 'sip:%s@%s' "$1" "$DEMO_DOMAIN"; }

# PIDs of the processes this script started, by name; stop_all ends exactly these.
declare -A PIDS=()

# start_bg NAME OUT ERR CMD...: CMD in the background in a session of its own (setsid), so that
# a Ctrl-C in the terminal reaches this script only, which then stops each child once and
# gracefully. stdout goes to the file OUT, stderr to ERR; "-" keeps this script's.
start_bg() {
  local name=$1 out=$2 err=$3
  shift 3
  if [[ $out == - && $err == - ]]; then
    setsid "$@" </dev/null &
  elif [[ $out == - ]]; then
    setsid "$@" 2>"$err" </dev/null &
  elif [[ $err == - ]]; then
    setsid "$@" >"$out" </dev/null &
  else
    setsid "$@" >"$out" 2>"$err" </dev/null &
  fi
  PIDS[$name]=$!
}

alive() { [[ -n ${PIDS[$1]:-} ]] && kill -0 "${PIDS[$1]}" 2>/dev/null; }

# wait_exit NAME SECONDS: waits (bounded) for NAME to end; its exit status is in EXIT_STATUS
# (124 if it did not end in time; it is then still running).
wait_exit() {
  local name=$1 secs=$2 pid=${PIDS[$1]:-} i
  EXIT_STATUS=124
  [[ -n $pid ]] || return 0
  for ((i = 0; i < secs * 10; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      EXIT_STATUS=$?
      unset "PIDS[$name]"
      return 0
    fi
    sleep 0.1
  done
}

# stop NAME [SIGNAL] [SECONDS]: sends SIGNAL (TERM) and waits up to SECONDS (10); KILL after.
stop() {
  local name=$1 sig=${2:-TERM} secs=${3:-10}
  alive "$name" || { wait_exit "$name" 1; return 0; }
  kill -"$sig" "${PIDS[$name]}" 2>/dev/null
  wait_exit "$name" "$secs"
  if [[ $EXIT_STATUS -eq 124 ]]; then
    kill -KILL "${PIDS[$name]}" 2>/dev/null
    wait "${PIDS[$name]}" 2>/dev/null
    unset "PIDS[$name]"
    EXIT_STATUS=137
  fi
}

stop_all() {
  local name
  for name in "${!PIDS[@]}"; do
    stop "$name" TERM 5
  done
}

# wait_for SECONDS CMD...: runs CMD every 0.1 s until it succeeds; 1 if it never did.
wait_for() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

# log_value FILE SED-EXPRESSION: the first match of a daemon's log line, e.g. the port it bound.
log_value() { sed -n "$2" "$1" | head -n 1; }
