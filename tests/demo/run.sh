#!/usr/bin/env bash
# tests/demo/run.sh: mikeykmsd and mikeyconfd of a build tree in the foreground, on loopback,
# with the shipped example configurations, for trying clients of one's own. ./quickstart run
# runs it:
#
#   tests/demo/run.sh BUILD-DIR STATE-DIR
#
# The first run prepares STATE-DIR: a KMS state directory (KEK, ticket key, CA) with the demo
# users alice (may create conferences), bob, carol, dave and erin, their credential files, and
# the focus's. Later runs reuse it, so credentials stay valid. Ports: KMS_PORT (8443, the
# default of mikeykmsd.conf) and SIP_PORT (5060, mikeyconfd's) from the environment. Both
# daemons log to the terminal; Ctrl-C stops both (gracefully, each once) and the exit status
# is 0 when both stopped cleanly.
set -uo pipefail

PROG=run.sh
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/demo/common.sh
. "$SRC/tests/demo/common.sh"

[[ $# -eq 2 ]] || { echo "usage: $PROG BUILD-DIR STATE-DIR" >&2; exit 2; }
BUILD=$(cd "$1" && pwd) || exit 2
use_build_tree "$BUILD"
KMS_PORT=${KMS_PORT:-8443}
SIP_PORT=${SIP_PORT:-5060}
[[ $KMS_PORT =~ ^[0-9]+$ && $SIP_PORT =~ ^[0-9]+$ ]] || { echo "$PROG: ports are numbers" >&2; exit 2; }

mkdir -p "$2" || exit 2
STATE=$(cd "$2" && pwd)
KMS_URL=https://127.0.0.1:$KMS_PORT/mikey
# The host of the factory and conference URIs: the port only when it is not 5060.
if [[ $SIP_PORT == 5060 ]]; then HOST=127.0.0.1; else HOST=127.0.0.1:$SIP_PORT; fi
SOCKET=$STATE/run/mikeyconfd.sock
((${#SOCKET} < 100)) || { echo "$PROG: $SOCKET: too long for a UNIX socket; use a shorter STATE-DIR" >&2; exit 2; }
KMSD=(mikeykmsd --config "$STATE/etc/mikeykmsd.conf" --state-dir "$STATE/kms" --port "$KMS_PORT")

if [[ ! -e $STATE/kms/kms.db ]]; then
  echo "==> preparing $STATE (the KMS with the demo users; kept for the next runs)"
  mkdir -p "$STATE"/{etc,creds,run} &&
    cp "$SRC/data/mikeykmsd.conf.example" "$STATE/etc/mikeykmsd.conf" &&
    cp "$SRC/data/mikeyconfd.conf.example" "$STATE/etc/mikeyconfd.conf" || exit 1
  "${KMSD[@]}" init >/dev/null || exit 1
  "${KMSD[@]}" user add "$(uri_of "$DEMO_CREATOR")" --may-create --out "$STATE/creds/$DEMO_CREATOR.cred" || exit 1
  for u in "${DEMO_MEMBERS[@]}"; do
    "${KMSD[@]}" user add "$(uri_of "$u")" --out "$STATE/creds/$u.cred" || exit 1
  done
  # What --focus alone gives on port 5060 (the host of sip:focus@127.0.0.1); spelled out so that
  # another SIP_PORT, which the conference URIs then carry, works too.
  "${KMSD[@]}" user add sip:focus@127.0.0.1 --focus \
    --resolves-for "sip:conference-factory@$HOST" --resolves-for "sip:conf-*@$HOST" \
    --out "$STATE/creds/focus.cred" || exit 1
  printf '%s %s\n' "$KMS_PORT" "$SIP_PORT" >"$STATE/ports"
fi
if [[ $(cat "$STATE/ports" 2>/dev/null) != "$KMS_PORT $SIP_PORT" ]]; then
  printf '%s: %s was prepared for the ports %s (KMS_PORT SIP_PORT); use those, or remove it\n' \
    "$PROG" "$STATE" "$(cat "$STATE/ports" 2>/dev/null)" >&2
  exit 2
fi

trap 'stop_all' EXIT
stopping=0
trap 'stopping=1' INT TERM

# stderr of both goes to this terminal; their log lines name the program.
start_bg kms - - "${KMSD[@]}" serve
# shellcheck disable=SC2317 # called through wait_for
kms_listening() { alive kms && (exec 3<>"/dev/tcp/127.0.0.1/$KMS_PORT") 2>/dev/null; }
if ! wait_for 15 kms_listening; then
  echo "$PROG: mikeykmsd did not start (its message is above)" >&2
  exit 1
fi
start_bg focus - - mikeyconfd --config "$STATE/etc/mikeyconfd.conf" \
  --sip-listen "127.0.0.1:$SIP_PORT" --credential "$STATE/creds/focus.cred" \
  --state-dir "$STATE/focus" --control-socket "$SOCKET"
# shellcheck disable=SC2317 # called through wait_for
focus_answers() { alive focus && mikeyconfctl --socket "$SOCKET" --timeout 1 stats >/dev/null 2>&1; }
if ! wait_for 15 focus_answers; then
  echo "$PROG: mikeyconfd did not start (its message is above)" >&2
  exit 1
fi

C=$STATE/creds
cat <<EOF

mikeykmsd: $KMS_URL (CA $STATE/kms/ca.pem)
mikeyconfd: SIP udp/tcp 127.0.0.1:$SIP_PORT, factory sip:conference-factory@$HOST
Credentials: $C/{alice,bob,carol,dave,erin}.cred (alice may create conferences)
Try, in another terminal (the programs are in $BUILD/src/*/):
  mikeyua create --credential $C/alice.cred --factory sip:conference-factory@$HOST \\
      --participant sip:bob@example.org --duration 0
  mikeyconfctl --socket $SOCKET list
  mikeyua join --credential $C/bob.cred --record bob.wav --duration 0 sip:conf-...@$HOST
  mikeyconfctl --socket $SOCKET events
Ctrl-C stops both daemons.

EOF

# Until Ctrl-C or until one of them ends on its own.
while ((!stopping)) && alive kms && alive focus; do
  sleep 0.2
done
status=0
if ((!stopping)); then
  echo "$PROG: a daemon ended on its own; stopping the other" >&2
  status=1
fi
stop focus TERM 10
[[ $EXIT_STATUS -eq 0 ]] || { echo "$PROG: mikeyconfd exit status $EXIT_STATUS" >&2; status=1; }
stop kms TERM 10
[[ $EXIT_STATUS -eq 0 ]] || { echo "$PROG: mikeykmsd exit status $EXIT_STATUS" >&2; status=1; }
echo "==> both stopped; state kept in $STATE"
exit "$status"
