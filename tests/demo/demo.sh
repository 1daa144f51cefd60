#!/usr/bin/env bash
# tests/demo/demo.sh: the mikeyconf story, played with the real programs of a build tree and told
# in plain words. ./quickstart demo runs it after the build:
#
#   tests/demo/demo.sh BUILD-DIR OUTPUT-DIR
#
# A Key Management Server (mikeykmsd, HTTPS with its own CA) and the conference focus
# (mikeyconfd) run on loopback with the shipped example configurations (data/*.conf.example;
# only paths and ports are set on the command line). Then, with mikeyua: alice creates a
# conference naming bob and carol; bob and carol join; dave is refused (and the audit log says
# so); everybody sends a tone of their own and records what they hear, and the recordings are
# checked to hold the others and not themselves; alice sends a new ticket naming bob and erin in
# an UPDATE, which removes carol (BYE with Reason) and lets erin in; mikeyconfctl shows the
# conference; everybody hangs up and both daemons stop cleanly. A summary table ends it.
#
# Every step is checked; the exit status is 0 only if every step behaved as expected. Every wait
# is bounded, every process started is stopped by its PID, even on Ctrl-C. OUTPUT-DIR is
# recreated (only if empty or made by an earlier run) and keeps the recordings, the logs and
# mikeyua's JSON reports.
set -uo pipefail

PROG=demo.sh
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/demo/common.sh
. "$SRC/tests/demo/common.sh"

[[ $# -eq 2 ]] || { echo "usage: $PROG BUILD-DIR OUTPUT-DIR" >&2; exit 2; }
BUILD=$(cd "$1" && pwd) || exit 2
OUT=$2
use_build_tree "$BUILD"

# Tones (Hz) and timing. Distinct tones make "who hears whom" measurable in each recording.
declare -A TONE=([alice]=400 [bob]=600 [carol]=800 [erin]=1000)
UPDATE_AT=12     # seconds after alice's call is up: her UPDATE with the new ticket
TALK_SECONDS=4   # how long the three talk before their recordings are first checked
ERIN_SECONDS=6   # erin's stay
AFTER_SECONDS=4  # how long alice and bob stay after erin has left
# A tone someone hears is at least HEARD_DB loud in their recording (dB of its total power), one
# they must not hear at most SILENT_DB: measured, heard tones are at -3 to -15 dB, absent ones
# at -50 dB and below (G.711's distortion products). mikeyua analyse weighs the whole file with a
# Hann window, so a tone heard only near either end reads low: erin's stay is kept away from the
# ends of alice's and bob's recordings (AFTER_SECONDS).
HEARD_DB=-30
SILENT_DB=-40
T0=$SECONDS

# ------------------------------------------------------------------ output and results

MARK=.mikeyconf-demo
if [[ -e $OUT && ! -e $OUT/$MARK && -n $(ls -A "$OUT" 2>/dev/null) ]]; then
  echo "$PROG: $OUT exists and was not made by this demo; not touching it" >&2
  exit 2
fi
rm -rf "$OUT"
mkdir -p "$OUT"/{etc,creds,logs,recordings,reports,run} || exit 2
touch "$OUT/$MARK"
OUT=$(cd "$OUT" && pwd)
cd "$OUT" || exit 2

# Colours only on a terminal.
if [[ -t 1 ]]; then
  BOLD=$'\e[1m' GREEN=$'\e[32m' RED=$'\e[31m' RESET=$'\e[0m'
else
  BOLD='' GREEN='' RED='' RESET=''
fi

RESULTS=() # "ok|FAIL<TAB>step<TAB>detail"
FAILURES=0
result() { # result ok|FAIL STEP DETAIL
  RESULTS+=("$1"$'\t'"$2"$'\t'"$3")
  if [[ $1 == ok ]]; then
    printf '   %sok%s   %s%s\n' "$GREEN" "$RESET" "$2" "${3:+: $3}"
  else
    FAILURES=$((FAILURES + 1))
    printf '   %sFAIL%s %s%s\n' "$RED" "$RESET" "$2" "${3:+: $3}"
  fi
}
check() { # check STEP DETAIL CMD...: ok if CMD succeeds
  local step=$1 detail=$2
  shift 2
  if "$@"; then result ok "$step" "$detail"; else result FAIL "$step" "$detail"; fi
}

STEP=0
step() { # step TITLE EXPLANATION...: a numbered heading and a paragraph in plain words
  STEP=$((STEP + 1))
  printf '\n%s%d. %s%s\n' "$BOLD" "$STEP" "$1" "$RESET"
  shift
  if [[ $# -gt 0 ]]; then printf '%s\n' "$*" | fmt -w 96 | sed 's/^/   /'; fi
}

summary() {
  local line st name detail
  printf '\n%sSummary%s (%d s)\n' "$BOLD" "$RESET" $((SECONDS - T0))
  printf '  %-4s  %-32s %s\n' "" "STEP" "RESULT"
  for line in "${RESULTS[@]}"; do
    IFS=$'\t' read -r st name detail <<<"$line"
    printf '  %-4s  %-32s %s\n' "$st" "$name" "$detail"
  done
  printf '\nRecordings (8 kHz WAV):  %s/recordings/\n' "$OUT"
  printf 'Logs:                    %s/logs/  (the daemons and each mikeyua)\n' "$OUT"
  printf "mikeyua's JSON reports:  %s/reports/\n" "$OUT"
  printf 'Records and audit log:   %s/focus/focus.db (SQLite); KMS state: %s/kms/\n' "$OUT" "$OUT"
}

# shown CMD...: prints the command as an operator would type it, then runs it (output indented).
shown() {
  printf '   $ %s\n' "$*"
  "$@" 2>&1 | sed 's/^/     /'
  return "${PIPESTATUS[0]}"
}

# Abort: the summary so far, then exit 1 (the EXIT trap stops what runs).
abort() {
  result FAIL "$1" "$2"
  summary
  exit 1
}

cleanup() {
  local rc=$?
  stop_all
  exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "$PROG: interrupted"; exit 130' INT TERM

# jget FILE KEY: the first "KEY" : VALUE of a pretty-printed JSON report (mikeyua --json).
jget() { sed -n "s/^ *\"$2\" : \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" "$1" | head -n 1; }

# ------------------------------------------------------------------ the story

printf '%smikeyconf demo%s: a secure conference keyed with MIKEY-TICKET, played on this machine\n' \
  "$BOLD" "$RESET"
printf 'Everything happens in %s (logs, recordings, reports).\n' "$OUT"

step "The shipped configurations" \
  "Both daemons run with the example configuration files of data/ (which 'make install' puts" \
  "in /etc/mikeyconf as *.conf.example), copied unchanged to etc/: every setting there is a" \
  "commented default." \
  "Only paths and ports are given on the command line (a command-line option wins over the" \
  "file), so that the demo needs no root and collides with nothing."
if ! cp "$SRC/data/mikeykmsd.conf.example" "$SRC/data/mikeyconfd.conf.example" etc/; then
  abort "configurations" "cannot copy data/*.conf.example"
fi
mv etc/mikeykmsd.conf.example etc/mikeykmsd.conf
mv etc/mikeyconfd.conf.example etc/mikeyconfd.conf
KMSD=(mikeykmsd --config etc/mikeykmsd.conf --state-dir kms)

step "The Key Management Server gets its state directory" \
  "mikeykmsd keeps the users' pre-shared keys and its ticket keys in kms/, sealed under a" \
  "key-encryption key. 'init' creates them, and a small certificate authority whose server" \
  "certificate the KMS presents over HTTPS; clients trust that CA (kms/ca.pem)."
shown "${KMSD[@]}" init || abort "KMS init" "mikeykmsd init failed"
check "KMS state directory" "kms/ (KEK, ticket key, CA)" test -s kms/ca.pem

step "The KMS starts (HTTPS on a free loopback port)" \
  "Port 0 lets the kernel pick a free port; the KMS names it in its log."
printf '   $ %s --port 0 serve 2>logs/mikeykmsd.log &\n' "${KMSD[*]}"
start_bg kms /dev/null logs/mikeykmsd.log "${KMSD[@]}" --port 0 serve
kms_listening() { grep -q 'listening on ' logs/mikeykmsd.log || ! alive kms; }
wait_for 15 kms_listening
if ! grep -q 'listening on ' logs/mikeykmsd.log; then
  tail -n 5 logs/mikeykmsd.log | sed 's/^/     /'
  abort "mikeykmsd starts" "see logs/mikeykmsd.log"
fi
KMS_URL=$(log_value logs/mikeykmsd.log 's/.*listening on \([^ ]*\).*/\1/p')
sed 's/^/     /' logs/mikeykmsd.log
check "mikeykmsd starts" "$KMS_URL" alive kms

step "The administrator adds the users" \
  "Each user gets a fresh pre-shared key and a credential file (mode 0600) holding it, the" \
  "KMS URL and its CA. Only alice may create conferences (--may-create); bob, carol, dave and" \
  "erin may only join. The focus is a user too: it may resolve tickets for the factory and the" \
  "conference URIs of its host (--resolves-for), and nothing else. The KMS is already running:" \
  "it reads users from its database on every request."
KMSU=("${KMSD[@]}" --public-url "$KMS_URL")
users_ok=1
shown "${KMSU[@]}" user add "$(uri_of alice)" --may-create --out creds/alice.cred || users_ok=0
for u in "${DEMO_MEMBERS[@]}"; do
  shown "${KMSU[@]}" user add "$(uri_of "$u")" --out "creds/$u.cred" || users_ok=0
done
FOCUS_ID=sip:focus@127.0.0.1
shown "${KMSU[@]}" user add "$FOCUS_ID" --focus \
  --resolves-for 'sip:conference-factory@127.0.0.1:*' --resolves-for 'sip:conf-*@127.0.0.1:*' \
  --out creds/focus.cred || users_ok=0
shown "${KMSD[@]}" user list
echo "   alice's credential file (the PSK hidden here):"
sed 's/^psk=.*/psk=<64 hex digits, never shown>/; s/^/     /' creds/alice.cred
n_users=$("${KMSD[@]}" user list --json 2>/dev/null | grep -o '"identity"' | wc -l)
[[ $users_ok -eq 1 && $n_users -eq 6 ]] || abort "users" "expected 6 users, got $n_users"
result ok "users" "alice (may create), bob, carol, dave, erin, the focus"

step "The conference focus starts" \
  "mikeyconfd answers SIP on a free loopback port (UDP and TCP), resolves every ticket it is" \
  "given at the KMS with its own credential, and keeps its records and audit log in focus/." \
  "mikeyconfctl talks to it over a UNIX socket."
CONFD=(mikeyconfd --config etc/mikeyconfd.conf --sip-listen 127.0.0.1:0
  --credential creds/focus.cred --state-dir focus --control-socket run/mikeyconfd.sock)
printf '   $ %s 2>logs/mikeyconfd.log &\n' "${CONFD[*]}"
start_bg focus /dev/null logs/mikeyconfd.log "${CONFD[@]}"
focus_started() { grep -q 'mikeyconfd: started' logs/mikeyconfd.log || ! alive focus; }
wait_for 15 focus_started
if ! grep -q 'mikeyconfd: started' logs/mikeyconfd.log; then
  tail -n 5 logs/mikeyconfd.log | sed 's/^/     /'
  abort "mikeyconfd starts" "see logs/mikeyconfd.log"
fi
sed 's/^/     /' logs/mikeyconfd.log
FACTORY=$(log_value logs/mikeyconfd.log 's/.* factory \(sip:[^,]*\),.*/\1/p')
check "mikeyconfd starts" "factory $FACTORY" alive focus
CTL=(mikeyconfctl --socket run/mikeyconfd.sock)

# ------------------------------------------------------------------ creation and joins

step "alice creates a conference for bob and carol" \
  "She asks the KMS for a ticket naming the conference factory, bob and carol, and calls the" \
  "factory with it: her INVITE's SDP offer carries a MIKEY TRANSFER_INIT with the ticket. The" \
  "focus has the KMS resolve the ticket (which checks that alice may create), creates the" \
  "conference, and answers with its URI and the SRTP keys for her leg. She sends a" \
  "${TONE[alice]} Hz tone and records what she hears. Her call will send a new ticket in an" \
  "UPDATE ${UPDATE_AT} s after it is up."
ALICE_ARGS=(mikeyua create --credential creds/alice.cred --factory "$FACTORY"
  --participant "$(uri_of bob)" --participant "$(uri_of carol)"
  --audio "tone:${TONE[alice]}" --record recordings/alice.wav --duration 0 --log-level info
  --at "$UPDATE_AT:new-ticket:$(uri_of bob),$(uri_of erin)" --update-method update --json)
printf '   $ %s &\n' "${ALICE_ARGS[*]}"
start_bg alice reports/alice.json logs/alice.log "${ALICE_ARGS[@]}"
conference_exists() {
  CONF=$("${CTL[@]}" list --json 2>/dev/null | grep -o 'sip:conf-[0-9a-f]\{32\}@[0-9.:]*' | head -n 1)
  [[ -n $CONF ]]
}
wait_for 20 conference_exists || abort "alice creates" "no conference after 20 s (logs/alice.log)"
shown "${CTL[@]}" list
check "alice creates the conference" "$CONF" alive alice

participants() { "${CTL[@]}" show "$CONF" 2>/dev/null | awk '$1 == "participants" { print $2 }'; }
has_participants() { [[ $(participants) -ge $1 ]]; }
in_call() { "${CTL[@]}" show "$CONF" 2>/dev/null | grep -q "^  $(uri_of "$1") "; }

step "bob and carol join" \
  "Each asks the KMS for a ticket naming the conference URI and calls it. The focus resolves" \
  "the ticket, sees that bob (and carol) are in the allowed set that alice's ticket made, and" \
  "admits them, each with SRTP keys of their own. bob sends ${TONE[bob]} Hz, carol" \
  "${TONE[carol]} Hz; both record."
for u in bob carol; do
  args=(mikeyua join --credential "creds/$u.cred" --audio "tone:${TONE[$u]}"
    --record "recordings/$u.wav" --duration 0 --log-level info --json)
  # carol is removed later: she expects the focus's BYE with cause 403
  [[ $u == carol ]] && args+=(--expect-bye-reason 403)
  printf '   $ %s %s &\n' "${args[*]}" "$CONF"
  start_bg "$u" "reports/$u.json" "logs/$u.log" "${args[@]}" "$CONF"
done
wait_for 20 has_participants 3 || abort "bob and carol join" "not in the conference after 20 s"
check "bob joins" "200 OK, in the conference" in_call bob
check "carol joins" "200 OK, in the conference" in_call carol

step "dave tries to join, and is refused" \
  "dave has a valid credential and gets a ticket naming the conference, but alice did not name" \
  "him: the focus answers 403 with a Warning saying why, and writes an audit event."
shown mikeyua join --credential creds/dave.cred --expect 403 "$CONF"
dave=$?
echo "   The audit log (mikeyconfctl events) has the refusal:"
audit=$("${CTL[@]}" events --conference "$CONF" | grep "refused.*$(uri_of dave)")
printf '     %s\n' "$audit"
[[ $dave -eq 0 && $audit == *"refused (not-in-allowed-set)"* ]]
check "dave is refused" "403, audit: refused (not-in-allowed-set)" test $? -eq 0

# ------------------------------------------------------------------ talking

# hears STEP FILE "HZ..." "HZ...": checks a recording with mikeyua analyse (its levels are
# shown): the tones of the first list are in it, those of the second are not.
hears() {
  local who=$1 file=$2 heard=$3 not_heard=$4 hz ok=1 level detail=""
  local freqs=()
  for hz in $heard $not_heard; do freqs+=("$hz"); done
  local out
  out=$(mikeyua analyse --trim 0.5 "$file" "${freqs[@]}" 2>&1)
  printf '   $ mikeyua analyse --trim 0.5 %s %s\n' "$file" "${freqs[*]}"
  printf '%s\n' "$out" | sed 's/^/     /'
  for hz in $heard; do
    level=$(awk -v hz="$hz" '$1 == hz && $2 == "Hz" { print $3 }' <<<"$out")
    if [[ -z $level ]] || ! awk -v l="$level" -v t="$HEARD_DB" 'BEGIN { exit !(l >= t) }'; then ok=0; fi
    detail+="${detail:+, }$hz Hz ${level:-?} dB"
  done
  [[ -n $detail ]] && detail="hears $detail"
  for hz in $not_heard; do
    level=$(awk -v hz="$hz" '$1 == hz && $2 == "Hz" { print $3 }' <<<"$out")
    if [[ -z $level ]] || ! awk -v l="$level" -v t="$SILENT_DB" 'BEGIN { exit !(l <= t) }'; then ok=0; fi
    detail+="; not $hz Hz ${level:-?} dB"
  done
  if ((ok)); then result ok "$who" "$detail"; else result FAIL "$who" "$detail"; fi
}

step "Everybody talks" \
  "alice (${TONE[alice]} Hz), bob (${TONE[bob]} Hz) and carol (${TONE[carol]} Hz) send their" \
  "tones in SRTP; the focus decrypts each leg and sends everyone the mix of the others," \
  "encrypted with that leg's keys. After ${TALK_SECONDS} s, what each has recorded so far is" \
  "measured with a Goertzel filter (mikeyua analyse): each must hear the two others (above" \
  "${HEARD_DB} dB of the total) and not themselves (below ${SILENT_DB} dB)."
sleep "$TALK_SECONDS"
hears "alice hears bob and carol" recordings/alice.wav "${TONE[bob]} ${TONE[carol]}" "${TONE[alice]}"
hears "bob hears alice and carol" recordings/bob.wav "${TONE[alice]} ${TONE[carol]}" "${TONE[bob]}"
hears "carol hears alice and bob" recordings/carol.wav "${TONE[alice]} ${TONE[bob]}" "${TONE[carol]}"

# ------------------------------------------------------------------ the owner's update

step "alice changes who may take part: bob and erin" \
  "At ${UPDATE_AT} s her call sends an UPDATE whose offer carries a new ticket naming the" \
  "conference, bob and erin. The focus resolves it, sees that it comes from the owner, and" \
  "makes its recipients the new allowed set (plus alice). carol is no longer in it: the focus" \
  "ends her call with a BYE whose Reason says why. erin now may join."
erin_allowed() { "${CTL[@]}" allowed "$CONF" 2>/dev/null | grep -qx "$(uri_of erin)"; }
wait_for $((UPDATE_AT + 20)) erin_allowed || abort "alice's update" "erin not in the allowed set"
shown "${CTL[@]}" allowed "$CONF"
wait_exit carol 15
carol_status=$EXIT_STATUS
cause=$(jget reports/carol.json reason_cause)
text=$(jget reports/carol.json reason_text)
printf '   carol'"'"'s mikeyua: the call was ended by the focus, Reason: SIP;cause=%s;text="%s"\n' \
  "$cause" "$text"
echo "   The audit log has the change and the removal:"
"${CTL[@]}" events --conference "$CONF" | grep -E 'set-changed|removed' | sed 's/^/     /'
[[ $carol_status -eq 0 && $cause == 403 ]]
check "carol is removed" "BYE, Reason cause ${cause:-?} \"${text:-?}\"" test $? -eq 0
check "allowed set" "alice, bob, erin" \
  test "$("${CTL[@]}" allowed "$CONF" 2>/dev/null | tr '\n' ' ')" == \
  "$(uri_of alice) $(uri_of bob) $(uri_of erin) "

step "erin joins" \
  "With a ticket naming the conference, like everyone else; she sends ${TONE[erin]} Hz and" \
  "records for ${ERIN_SECONDS} s. While she is in, mikeyconfctl shows the conference: the" \
  "allowed set, and each participant's address, codec, SRTP policy and packet counts."
ERIN_ARGS=(mikeyua join --credential creds/erin.cred --audio "tone:${TONE[erin]}"
  --record recordings/erin.wav --duration "$ERIN_SECONDS" --log-level info --json "$CONF")
printf '   $ %s &\n' "${ERIN_ARGS[*]}"
start_bg erin reports/erin.json logs/erin.log "${ERIN_ARGS[@]}"
wait_for 20 in_call erin || abort "erin joins" "not in the conference after 20 s"
sleep 2
shown "${CTL[@]}" show "$CONF"
wait_exit erin $((ERIN_SECONDS + 20))
check "erin joins" "200 OK, stayed ${ERIN_SECONDS} s, hung up" test "$EXIT_STATUS" -eq 0

# ------------------------------------------------------------------ the end

step "bob and alice hang up" \
  "They talk ${AFTER_SECONDS} s more, then hang up: Ctrl-C (SIGINT) makes mikeyua end its call" \
  "with a BYE and print its report."
sleep "$AFTER_SECONDS"
stop bob INT 15
check "bob hangs up" "BYE, exit status $EXIT_STATUS" test "$EXIT_STATUS" -eq 0
stop alice INT 15
alice_status=$EXIT_STATUS
upd_method=$(jget reports/alice.json method)
upd_status=$(sed -n '/"updates"/,/]/s/^ *"status" : \([0-9]*\),*$/\1/p' reports/alice.json | head -n 1)
[[ $alice_status -eq 0 && $upd_method == UPDATE && $upd_status == 200 ]]
check "alice's UPDATE" "${upd_method:-?} with the new ticket: ${upd_status:-?}" test $? -eq 0
check "alice hangs up" "BYE, exit status $alice_status" test "$alice_status" -eq 0

step "The whole recordings" \
  "Now that the calls are over: alice and bob heard carol before she was removed and erin" \
  "after she came; carol never heard erin, and erin never heard carol. Nobody heard" \
  "themselves. And not one SRTP packet failed to decrypt anywhere."
hears "alice's recording" recordings/alice.wav "${TONE[bob]} ${TONE[carol]} ${TONE[erin]}" "${TONE[alice]}"
hears "bob's recording" recordings/bob.wav "${TONE[alice]} ${TONE[carol]} ${TONE[erin]}" "${TONE[bob]}"
hears "carol's recording" recordings/carol.wav "${TONE[alice]} ${TONE[bob]}" "${TONE[carol]} ${TONE[erin]}"
hears "erin's recording" recordings/erin.wav "${TONE[alice]} ${TONE[bob]}" "${TONE[erin]} ${TONE[carol]}"
for u in alice bob carol erin; do
  sent=$(jget "reports/$u.json" sent)
  received=$(jget "reports/$u.json" received)
  failed=$(jget "reports/$u.json" decrypt_failed)
  check "$u's SRTP" "sent $sent, received $received, failed to decrypt ${failed:-?}" \
    test "${failed:-x}" == 0 -a "${received:-0}" -gt 0
done

step "Both daemons stop" \
  "SIGTERM: the focus ends any call still up (none are), every record having been committed" \
  "as it was made; the KMS finishes the requests in flight. Both exit with status 0."
stop focus TERM 15
check "mikeyconfd stops" "exit status $EXIT_STATUS" test "$EXIT_STATUS" -eq 0
stop kms TERM 15
check "mikeykmsd stops" "exit status $EXIT_STATUS" test "$EXIT_STATUS" -eq 0

# ------------------------------------------------------------------ summary

summary
if ((FAILURES)); then
  printf '\n%d step(s) did not behave as expected.\n' "$FAILURES"
  exit 1
fi
printf '\nEvery step behaved as expected.\n'
