#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nf_ckpt_store and ckptctl without the firewall module: records come in
# through `ckptctl load` of files built by nf_ckpt.py.  Round trip, forget,
# flush, limits, expiry, netns isolation, monitor, privilege, malformed
# requests, bad files.
set -e
source "$(dirname "$0")/lib.sh"

require_modules_built
require_cmd python3 setpriv unshare
[[ -x $CKPTCTL ]] || ktap_skip_all "ckptctl not built"
# nobody and a user namespace's root run it (privilege checks)
reachable_copies

PY="python3 $(dirname "$0")/nf_ckpt.py"
work=$(mktemp -d)
at_exit "rm -rf $work"

ckpt() { "$CKPTCTL" "$@"; }
jget() { # jget KEY: a top-level number from JSON on stdin
	python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
count() { ckpt status --json | jget connections; }
records() { ckpt status --json | jget records; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$CKPTCTL" "$@"; }

reload_store() {
	rmmod nf_ckpt_store 2>/dev/null || true
	insmod "$STORE_KO" "$@"
}

ktap_plan 36

insmod "$STORE_KO"
at_exit "rmmod nf_ckpt_store"

# --- load, list, round trip --------------------------------------------
$PY gen "$work/a.ckpt" 30
check "load of a generated file succeeds" ckpt load "$work/a.ckpt"
check "status counts 30 connections" test "$(count)" = 30
# 30 conns: base + l4 each, helper on every third
check "status counts 70 records" test "$(records)" = 70

list_ok() {
	ckpt list --json | python3 -c '
import json, sys
conns = json.load(sys.stdin)
assert len(conns) == 30, len(conns)
for c in conns:
    i = c["id"] - 1
    assert c["family"] == "ipv4" and c["proto"] == "tcp", c
    assert c["src"] == "10.0.1.%d" % (2 + i % 200) and c["dst"] == "10.0.2.2", c
    assert c["sport"] == 20000 + i and c["dport"] == 80, c
    assert c["reply"]["sport"] == 80 and c["reply"]["dport"] == 20000 + i, c
    assert c["state"] == "ESTABLISHED" and c["mark"] == i, c
    want = ["base", "l4"] + (["helper"] if i % 3 == 0 else [])
    assert c["layers"] == want, (c["layers"], want)
'
}
check "list --json shows every connection with its tuples, state and layers" list_ok
check "show prints the TCP window of a connection" \
	sh -c "'$CKPTCTL' show 4 | grep -q 'td_maxwin=65535'"

strip_timeout() { sed -E 's/^(id=\S+ \S+ +[0-9]+) [0-9]+ /\1 T /'; }
ckpt list 2>/dev/null | strip_timeout >"$work/list1"
check "save writes a file" ckpt save "$work/saved.ckpt"
ckpt flush
check "flush empties the store" test "$(count)" = 0
check "load of the saved file succeeds" ckpt load "$work/saved.ckpt"
ckpt list 2>/dev/null | strip_timeout >"$work/list2"
ckpt save "$work/saved2.ckpt"
$PY records "$work/a.ckpt" >"$work/r0"
$PY records "$work/saved.ckpt" >"$work/r1"
$PY records "$work/saved2.ckpt" >"$work/r2"
check "save -> flush -> load -> save: record payloads byte-identical" \
	sh -c "cmp -s '$work/r0' '$work/r1' && cmp -s '$work/r1' '$work/r2'"
check "list before and after the round trip is identical" cmp -s "$work/list1" "$work/list2"

# --- forget --------------------------------------------------------------
check "forget ID removes one connection" sh -c "'$CKPTCTL' forget 5 && test \$('$CKPTCTL' status --json | python3 -c 'import json,sys;print(json.load(sys.stdin)[\"connections\"])') = 29"
check "forget ID LAYER removes one layer" sh -c "'$CKPTCTL' forget 4 helper && '$CKPTCTL' show 4 --json | grep -q '\"layers\":\[\"base\",\"l4\"\]'"
out=$(ckpt forget 5 2>&1) && rc=0 || rc=$?
check "forget of an unknown ID fails with a message (exit 1)" \
	sh -c "test $rc = 1 && echo '$out' | grep -q 'ckptctl: unable to forget'"
out=$(ckpt forget notanid 2>&1) && rc=0 || rc=$?
check "forget with a bad ID is a usage error (exit 2)" test "$rc" = 2
ckpt flush

# --- bad files ------------------------------------------------------------
for t in truncate bitflip version huge trailing count; do
	$PY gen "$work/bad-$t.ckpt" 5 --tweak "$t"
	out=$(ckpt load "$work/bad-$t.ckpt" 2>&1) && rc=0 || rc=$?
	ktap_info "$t: $out"
	if [[ $rc == 1 && $out == "ckptctl: unable to load"* && $(count) == 0 ]]; then
		ok "a $t file is refused with a message and loads nothing"
	else
		fail "a $t file is refused with a message and loads nothing (rc=$rc)"
	fi
done

# --- limits ----------------------------------------------------------------
reload_store max_records=50
$PY gen "$work/b.ckpt" 20		# 47 records
$PY gen "$work/c.ckpt" 5 --first-id 1000	# 12 records
check "20 connections fit under max_records=50" ckpt load "$work/b.ckpt"
out=$(ckpt load "$work/c.ckpt" 2>&1) && rc=0 || rc=$?
ktap_info "$out"
check "a load past the limit fails with ENOSPC" \
	sh -c "test $rc = 1 && echo '$out' | grep -qi 'space\|full'"
check "the refused load is counted and earlier records are intact" \
	sh -c "test \"\$('$CKPTCTL' status --json | python3 -c 'import json,sys;d=json.load(sys.stdin);print(d[\"refused\"]>0, d[\"connections\"], d[\"records\"])')\" = 'True 20 47'"
check "records of the refused load are absent" \
	sh -c "! '$CKPTCTL' show 1000 >/dev/null 2>&1"

# --- expiry ----------------------------------------------------------------
reload_store
$PY gen "$work/e.ckpt" 10 --expires-ms 1500
ckpt load "$work/e.ckpt"
check "records with an expiry are there at first" test "$(count)" = 10
sleep 3.5
check "expired records are reaped by the store" test "$(count)" = 0
check "status counts them as expired" \
	test "$(ckpt status --json | jget expired)" = 24

# --- netns isolation ---------------------------------------------------------
reload_store max_records=30
netns_new nsa
netns_new nsb
$PY gen "$work/n.ckpt" 10		# 24 records
in_ns "$nsa" load "$work/n.ckpt"
check "another netns does not see the records" \
	test "$(in_ns "$nsb" status --json | jget connections)" = 0
check_not "the limit is shared: a second netns cannot overfill it" \
	in_ns "$nsb" load "$work/n.ckpt" 2>/dev/null
ip netns del "$nsa"
wait_until 10 in_ns "$nsb" load "$work/n.ckpt" 2>/dev/null && rc=0 || rc=$?
check "records of a destroyed netns are freed" test "$rc" = 0

# --- monitor ---------------------------------------------------------------
reload_store
$PY gen "$work/m.ckpt" 2		# ids 1 (base,l4,helper) and 2 (base,l4)
"$CKPTCTL" monitor --json >"$work/mon" &
mon=$!
at_exit "kill $mon"
sleep 1
ckpt load "$work/m.ckpt"
ckpt forget 2
wait_until 5 sh -c "grep -c . '$work/mon' | grep -qx 6" || true
kill "$mon" 2>/dev/null; wait "$mon" 2>/dev/null || true
check "monitor sees every put" test "$(grep -c '"event":"put"' "$work/mon")" = 5
check "monitor sees the delete" grep -q '"event":"del","id":2' "$work/mon"

# --- privilege ---------------------------------------------------------------
ckpt load "$work/m.ckpt" 2>/dev/null || true
before=$(records)
# Readable input and a writable target, so that the refusal comes from
# the kernel and not from the file system.
pub=$work/pub
mkdir -m 1777 "$pub"
chmod 755 "$work"
install -m 644 "$work/m.ckpt" "$pub/m.ckpt"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"; }
sysctl -qw kernel.unprivileged_userns_clone=1 2>/dev/null || true
denied=0
for args in status list "show 1" restore "forget 1" flush "save $pub/x.ckpt" "load $pub/m.ckpt"; do
	# shellcheck disable=SC2086
	o1=$(as_nobody "$CKPTCTL" $args 2>&1) && r1=0 || r1=$?
	# shellcheck disable=SC2086
	o2=$(as_nobody unshare -U -r "$CKPTCTL" $args 2>&1) && r2=0 || r2=$?
	if [[ $r1 == 1 && $o1 == *"not permitted"* && $r2 == 1 && $o2 == *"not permitted"* ]]; then
		denied=$((denied + 1))
	else
		ktap_info "$args: nobody rc=$r1 '$o1'; userns rc=$r2 '$o2'"
	fi
done
check "every command is refused (EPERM) to nobody and to a user namespace" test "$denied" = 8
check "nothing changed after the refused commands" test "$(records)" = "$before"

# --- malformed requests ----------------------------------------------------
$PY malformed >"$work/bad" 2>&1 || true
cat "$work/bad" | sed 's/^/# /'
bad_ok() {
	# every case EINVAL (22) with an extack text, but ID 0 (ERANGE, 34,
	# from the policy's range) and the unknown command (EOPNOTSUPP, 95)
	awk '
		$1 == "unknown-command" { if ($2 != 95) bad = 1; next }
		$1 == "forget-id-zero" && $2 == 34 && $3 != "-" { next }
		$2 != 22 || $3 == "-" { bad = 1 }
		END { exit bad || NR != 17 }
	' "$work/bad"
}
check "malformed requests get EINVAL with an extack message" bad_ok
check "malformed requests changed nothing" test "$(records)" = "$before"

ktap_finished
