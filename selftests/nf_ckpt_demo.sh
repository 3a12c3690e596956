#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The demo (issue #8), run by `make demo` and by `make check`: a file
# crosses a strict stateful router and the firewall crashes mid-transfer,
# once without nfckpt and once with it.
#
# client -- router -- server; the router's forward chain: policy drop,
# established/related accepted, new TCP only on a bare SYN from the client,
# a named counter per flow and a counter on the final drop rule; its input
# chain: policy drop too; nf_conntrack_tcp_loose=0, so a segment without a
# conntrack is INVALID.  The server sends $SIZE bytes of random data at
# $RATE bytes/s; once the client has $CRASH_PCT percent, the firewall
# crashes: nf_ckpt_ct is removed, the conntrack table is flushed, and
# nf_ckpt_ct is loaded again (it restores from the store as it loads).
#   1. control: no nfckpt module loaded, the same crash (the flush): the
#      flow must die (nothing for $IDLE_DEAD s) and the router must drop
#      its packets;
#   2. with nf_ckpt_store and nf_ckpt_ct: the module restores the
#      connection as it loads (its kernel log line), and the transfer
#      completes with the right sha256.
# Each run prints a verdict: completed?, sha256 right?, the longest stall
# across the crash, the router's drop counter for the flow.  With
# NFCKPT_DEMO_OUT set, the test writes there: control.dat and nfckpt.dat
# (seconds since the server started sending, MiB received, KiB/s since the
# previous sample, one every $SAMPLE s), times.txt (per run: name, start
# of the crash, conntrack table flushed, firewall back, end of the
# transfer, on the same scale), kernel.txt and verdict.txt.
set -e
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# $client, $router, $server: set by topo_client_router_server.
# shellcheck disable=SC2154

require_modules_built
require_cmd nft conntrack dmesg modprobe
[[ -x $CKPTCTL ]] || ktap_skip_all "ckptctl not built: make tools"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
[[ -r $NFCKPT_ROOT/selftests/nf_ckpt_xfer.py ]] || ktap_skip_all "nf_ckpt_xfer.py missing"

M=$((1 << 20))
SIZE=$((6 * M))
RATE=$((512 * 1024))
CRASH_PCT=25    # the crash comes once the client has this much: the rest
		# (9 s at RATE) leaves room for a slow crash under TCG
IDLE_DEAD=10    # control: no progress for this long after the crash = dead
IDLE_OK=30      # the nfckpt run may pause this long (retransmission backoff)
DEADLINE=150    # a transfer's whole life
SAMPLE=0.5      # time series: one sample every SAMPLE s
declare -A PORT=([control]=5101 [nfckpt]=5102)
declare -A DESC=([control]="without nfckpt (control)" [nfckpt]="with nfckpt")

ktap_plan 4

tmp=$(mktemp -d)
at_exit "rm -rf $tmp"
at_exit kill_all
out=${NFCKPT_DEMO_OUT:-}
if [[ -n $out ]]; then
	mkdir -p "$out"
	rm -f "$out"/control.dat "$out"/nfckpt.dat "$out"/times.txt "$out"/verdict.txt
	uname -r >"$out/kernel.txt"
fi

# The transfer tool, imported so that its bytecode is cached (in $tmp).
XF=("$PY" -I -S -X "pycache_prefix=$tmp/pyc" -c
	"import sys; sys.path.insert(0, sys.argv.pop(1)); import nf_ckpt_xfer; nf_ckpt_xfer.main()"
	"$NFCKPT_ROOT/selftests")

rel() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# Packets of the router's named counter $1.
counter() {
	R nft list counter inet filter "$1" 2>/dev/null |
		sed -n 's/.*packets \([0-9]*\).*/\1/p'
}

# ---------------------------------------------------------------- router
{
	cat <<NFT
table inet filter {
	counter d_control { }
	counter d_nfckpt { }
NFT
	strict_router_chains
	# Counting only: what gets here is dropped by the last rule.
	for f in control nfckpt; do
		echo "		tcp dport ${PORT[$f]} counter name \"d_$f\""
		echo "		tcp sport ${PORT[$f]} counter name \"d_$f\""
	done
	cat <<NFT
		counter drop
	}
}
NFT
} >"$tmp/ruleset.nft"

for m in nf_ckpt_ct nf_ckpt_store; do
	if mod_loaded $m; then rmmod $m || die "$m is loaded and cannot be removed"; fi
done
modprobe nf_conntrack
topo_client_router_server
R sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0
R nft -f "$tmp/ruleset.nft"
router_ns=$(R readlink /proc/self/ns/net)
router_ns=${router_ns//[!0-9]/}
head -c "$SIZE" /dev/urandom >"$tmp/data.bin"
info "set up: $((SIZE / M)) MiB at $((RATE / 1024)) KiB/s, crash at $CRASH_PCT%"

# ---------------------------------------------------------------- the crash
# The firewall module goes, the conntrack table goes, the module comes
# back.  Without nfckpt only the flush happens.  Sets t_flush (conntrack
# has printed that the table is flushed: every command takes a good
# fraction of a second under TCG) and t_resume.
crash() {
	local had_ct=0
	if mod_loaded nf_ckpt_ct; then
		had_ct=1
		rmmod nf_ckpt_ct || die "rmmod nf_ckpt_ct failed"
	fi
	R conntrack -F 2>&1 | {
		read -r _ || true
		echo "$EPOCHREALTIME" >"$tmp/flushed"
		cat >/dev/null
	}
	t_flush=$(<"$tmp/flushed")
	if ((had_ct)); then
		insmod "$CT_KO" || die "insmod nf_ckpt_ct failed"
	fi
	t_resume=$EPOCHREALTIME
}

# ---------------------------------------------------------------- a run
# run NAME IDLE: one transfer through the router, the crash once the client
# has CRASH_PCT percent, wait for its end.  Sets REP[key] (the report of
# nf_ckpt_xfer.py), at_crash (bytes), drops (of the flow's counter),
# t_go, t_crash, t_flush, t_resume, dmesg0 (kernel log lines before the crash).
declare -A REP
run() {
	local name=$1 idle=$2 rdir=$tmp/$1 spec spid cpid d0 line k v n end
	mkdir -p "$rdir"
	spec="$name,tcp,10.0.2.2,${PORT[$name]},$tmp/data.bin,$SIZE"
	d0=$(counter "d_$name")
	ip netns exec "$server" "${XF[@]}" serve --dir "$rdir" --go "$rdir/go" \
		"$spec,$RATE" </dev/null >"$rdir/serve.out" 2>&1 &
	spid=$!
	_pids+=("$spid")
	wait_until 60 test -e "$rdir/serve.ready" ||
		die "the server did not start: $(cat "$rdir/serve.out")"
	ip netns exec "$client" "${XF[@]}" fetch --dir "$rdir" --idle "$idle" \
		--deadline "$DEADLINE" --mark "$CRASH_PCT,$rdir/mark" --samples "$SAMPLE" \
		"$spec" </dev/null >"$rdir/fetch.out" 2>&1 &
	cpid=$!
	_pids+=("$cpid")
	wait_until 60 test -e "$rdir/fetch.connected" ||
		die "the client did not connect: $(cat "$rdir/fetch.out")"
	t_go=$EPOCHREALTIME
	touch "$rdir/go"
	wait_until 90 test -e "$rdir/mark" || info "$name: the transfer is slow to start"
	line=
	read -r line <"$rdir/$name.st" || true
	at_crash=0
	[[ $line =~ \"bytes\":\ ([0-9]+) ]] && at_crash=${BASH_REMATCH[1]}
	dmesg0=$(dmesg | wc -l)
	t_crash=$EPOCHREALTIME
	crash
	info "$name: crash at $at_crash bytes, $(rel "$t_go" "$t_crash") s after the start;" \
		"table flushed after $(rel "$t_crash" "$t_flush") s, firewall back after" \
		"$(rel "$t_crash" "$t_resume") s"
	wait "$cpid" 2>/dev/null || true
	kill_pid "$spid"
	REP=()
	"${XF[@]}" report --dir "$rdir" --crash "$t_crash" "$name" >"$rdir/report" 2>&1 || true
	while read -r n k v; do
		REP[$k]=$v
	done <"$rdir/report"
	n=$(counter "d_$name")
	drops=$((${n:-0} - ${d0:-0}))
	if [[ ${REP[reason]:-} == error || ${REP[reason]:-} == no-status* ]]; then
		sed 's/^/#   /' "$rdir/serve.out" "$rdir/fetch.out" 2>/dev/null | head -c 2000 || true
	fi
	if [[ -n $out ]]; then
		"${XF[@]}" series --dir "$rdir" --t0 "$t_go" "$name" >"$out/$name.dat" 2>&1 ||
			info "$name: no time series: $(cat "$out/$name.dat")"
		end=$(sed -n 's/.*"t_end": \([0-9.]*\).*/\1/p' "$rdir/$name.st")
		echo "$name $(rel "$t_go" "$t_crash") $(rel "$t_go" "$t_flush") $(rel "$t_go" "$t_resume")" \
			"$(rel "$t_go" "${end:-$t_go}")" >>"$out/times.txt"
	fi
}

# The verdict line of run $1 (from REP and drops; $2: its idle limit).
verdict() {
	local name=$1 fate sha mib
	mib=$(awk -v b="${REP[bytes]:-0}" 'BEGIN { printf "%.1f", b / 1048576 }')
	case ${REP[reason]:-none} in
	eof) fate="ended at $mib of $((SIZE / M)).0 MiB" ;;
	idle) fate="no data for $2 s, gave up at $mib of $((SIZE / M)).0 MiB" ;;
	*) fate="${REP[reason]:-none} at $mib of $((SIZE / M)).0 MiB" ;;
	esac
	if [[ ${REP[reason]:-} == eof && ${REP[bytes]:-} == "${REP[size]:-}" ]]; then
		fate="yes ($fate)"
	else
		fate="no ($fate)"
	fi
	if [[ ${REP[ok]:-} == 1 ]]; then
		sha=right
	elif [[ ${REP[bytes]:-} == "${REP[size]:-}" ]]; then
		sha=WRONG
	else
		sha="-"
	fi
	printf '%-26s completed: %s; sha256: %s; longest stall: %s s; drop-rule hits: %s\n' \
		"${DESC[$name]}:" "$fate" "$sha" "${REP[stall]:-?}" "$drops"
}

# ---------------------------------------------------------------- 1. control
run control "$IDLE_DEAD"
v_control=$(verdict control "$IDLE_DEAD")
ktap_info "$v_control"
control_died() {
	[[ ${REP[reason]} == idle ]] && ((at_crash < SIZE))
}
if control_died; then
	ok "control (nfckpt not loaded): the crash kills the flow (nothing for $IDLE_DEAD s)"
else
	fail "control (nfckpt not loaded): the crash kills the flow (nothing for $IDLE_DEAD s):" \
		"${REP[reason]:-none}, $at_crash bytes at the crash"
fi
check "control: the router drops the flow's packets after the crash ($drops)" \
	test "$drops" -gt 0

# ---------------------------------------------------------------- 2. nfckpt
load_store
load_ct
run nfckpt "$IDLE_OK"
v_nfckpt=$(verdict nfckpt "$IDLE_OK")
ktap_info "$v_nfckpt"
restored=$(dmesg | tail -n "+$((dmesg0 + 1))" |
	sed -n "s/.*nf_ckpt_ct: netns $router_ns: restored \([0-9]*\),.*/\1/p" | tail -n 1)
info "nf_ckpt_ct on load, router netns: restored ${restored:-nothing}"
check "nfckpt: nf_ckpt_ct restores the connection as it loads (restored ${restored:-0})" \
	test "${restored:-0}" -ge 1
check "nfckpt: the transfer completes across the crash, sha256 right" test "${REP[ok]}" = 1

if [[ -n $out ]]; then
	{
		echo "$v_control"
		echo "$v_nfckpt"
		if ((_ktap_fail == 0)); then
			echo "verdict: as expected: the crash kills the flow without nfckpt; with nfckpt it completes intact"
		else
			echo "verdict: WRONG: $_ktap_fail of $_ktap_n checks failed (see the test output)"
		fi
	} >"$out/verdict.txt"
fi
ktap_finished
