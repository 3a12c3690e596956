#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Re-learning the windows of a restored TCP connection when the outage
# swallowed ACKs (nf_ckpt_ct's relearn_assist).
#
# A restored TCP conntrack has td_maxwin = 0 in both directions and
# conntrack re-learns each direction from its next segment.  If the
# client's ACKs for data it did receive were lost, the server's first
# segment after the restore is a retransmission below what the client has:
# conntrack sets the server direction's td_end to that segment's end, and
# every ACK of the client is then "ACK is over upper bound", INVALID, and
# dropped by a strict ruleset: the flow stalls for good.  relearn_assist=1
# (the default) raises the other direction's td_end to what the first
# segment of a direction acknowledges.
#
# client -- router -- server, the strict ruleset of nf_ckpt_demo.sh
# (forward: policy drop, established/related accepted, new TCP only on a
# bare SYN from the client, counters; input: policy drop;
# nf_conntrack_tcp_loose=0).  The server sends $SIZE bytes at $RATE
# bytes/s; once the client has $MARK bytes the router drops the client's
# pure ACKs (raw prerouting, before conntrack) for $ACK_DROP s, then
# crashes: rmmod nf_ckpt_ct; conntrack -F; insmod nf_ckpt_ct (restore on
# load); then the ACKs pass again.  Three rounds (relearn_assist is global):
#   1. control, relearn_assist=0 (conntrack re-learns alone): the flow
#      must stall for good (not one byte for $IDLE_DEAD s, and for as long
#      as the outage lasted plus 4 s, once the ACKs pass again: the server
#      retransmits meanwhile), the router finding the flow INVALID then:
#      the reproducer, proof that the test sees the bug;
#   2. nf_ckpt_ct loaded without parameters: relearn_assist is on, and the
#      transfer completes, sha256 right;
#   3. the same, and once the server's first segment after the restore has
#      crossed the router (conntrack re-learnt that direction from it, the
#      client's is still to re-learn), nf_ckpt_ct is reloaded (rmmod;
#      insmod: the conntrack stays, its restore finds it there) before the
#      ACKs pass: the transfer completes.  The help must outlive the module
#      that restored the conntrack (the soak lost a masqueraded flow so).
# Each round prints the longest stall, the ACKs the outage dropped, the
# router's INVALID and drop counters and the reasons conntrack logged
# (nf_conntrack_log_invalid).
set -e
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# $client, $router, $server: set by topo_client_router_server.
# shellcheck disable=SC2154

require_modules_built
require_cmd nft conntrack dmesg modprobe modinfo
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
[[ -r $NFCKPT_ROOT/selftests/nf_ckpt_xfer.py ]] || ktap_skip_all "nf_ckpt_xfer.py missing"

M=$((1 << 20))
SIZE=$((3 * M))
RATE=$((256 * 1024))
MARK=$((384 * 1024))	# the ACKs go once the client has this much
ACK_DROP=1.2	# ... for this long before the crash (and during it)
IDLE_DEAD=12	# control: nothing for this long once the ACKs pass = dead
IDLE_OK=60	# relearn_assist on: may pause this long (RTO backoff over a long
		# outage under TCG)
DEADLINE=150	# a transfer's whole life
CLIENT=10.0.1.2
declare -A PORT=([control]=5201 [assist]=5202 [reload]=5203)
declare -A DESC=([control]="relearn_assist=0 (control)" [assist]="relearn_assist default"
	[reload]="nf_ckpt_ct reloaded meanwhile")

ktap_plan 7

tmp=$(mktemp -d)
at_exit "rm -rf $tmp"
at_exit kill_all

# The transfer tool, imported so that its bytecode is cached (in $tmp),
# then held until the file named by its first argument exists.
XF=("$PY" -I -S -X "pycache_prefix=$tmp/pyc" -c "import os, sys, time
sys.path.insert(0, sys.argv.pop(1))
import nf_ckpt_xfer
gate = sys.argv.pop(1)
while not os.path.exists(gate):
    time.sleep(0.1)
nf_ckpt_xfer.main()" "$NFCKPT_ROOT/selftests")

rel() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# ---------------------------------------------------------------- router
{
	cat <<NFT
table inet filter {
	counter i_control { }
	counter i_assist { }
	counter d_control { }
	counter d_assist { }
	counter i_reload { }
	counter d_reload { }
NFT
	strict_router_chains
	# Counting only: what gets here is dropped by the last rule.
	for f in control assist reload; do
		echo "		tcp dport ${PORT[$f]} ct state invalid counter name \"i_$f\""
		echo "		tcp sport ${PORT[$f]} ct state invalid counter name \"i_$f\""
		echo "		tcp dport ${PORT[$f]} counter name \"d_$f\""
		echo "		tcp sport ${PORT[$f]} counter name \"d_$f\""
	done
	cat <<NFT
		counter drop
	}
}
table inet lossy {
	counter a_control { }
	counter a_assist { }
	counter a_reload { }
	counter s_reload { }
	chain pre {
		type filter hook prerouting priority raw;
	}
	chain seen {
		type filter hook prerouting priority raw;
		iifname "veth1" tcp sport ${PORT[reload]} counter name "s_reload"
	}
}
NFT
} >"$tmp/ruleset.nft"

# The outage of round $1: the client's pure ACKs to the server, dropped
# before conntrack sees them.  A pure ACK: no SYN, FIN or RST, and no
# payload: IP total length = IP header + TCP header (data offset), for
# every possible data offset.
ack_drop_on() {
	local d
	{
		for d in 5 6 7 8 9 10 11 12 13 14 15; do
			echo "add rule inet lossy pre iifname \"veth0\" ip saddr $CLIENT" \
				"ip hdrlength 5 tcp dport ${PORT[$1]}" \
				"tcp flags & (fin | syn | rst) == 0 @th,96,4 $d" \
				"ip length $((20 + 4 * d)) counter name \"a_$1\" drop"
		done
	} | R nft -f -
}

# The end of the outage; and the counters (CNT) right then.
ack_drop_off() {
	counters < <(R sh -c "nft flush chain inet lossy pre && nft list counters")
}

# Segments of the server that reached the router (round reload).
server_seen() {
	R nft list counter inet lossy s_reload | awk '/packets/ { print $2; exit }'
}

server_spoke() { (($(server_seen) > $1)); }

# Round reload: once a segment of the server crossed the router after the
# restore (conntrack re-learnt the server's direction from it), nf_ckpt_ct
# goes and comes back; the conntrack stays.
reload_ct() {
	local s0
	s0=$(server_seen)
	wait_until 60 server_spoke "$s0" ||
		die "reload: no segment of the server reached the router after the restore"
	rmmod nf_ckpt_ct || die "rmmod nf_ckpt_ct failed"
	insmod "$CT_KO" "$@" || die "insmod nf_ckpt_ct $* failed"
}

# The parameters of nf_ckpt_ct in round $1: the control turns the assist
# off, the other round takes the default.
ct_params() {
	[[ $1 == control ]] && ((has_param)) && echo "relearn_assist=0"
	return 0
}

# ---------------------------------------------------------------- a round
# The status file of round $1 (one line of JSON, rewritten every 0.2 s by
# the client) into ST; ST_bytes, ST_t_end: two of its fields.
st_read() {
	ST=
	read -r ST <"$tmp/$1/$1.st" 2>/dev/null || true
	ST_bytes=0 ST_t_end=
	[[ $ST =~ \"bytes\":\ ([0-9]+) ]] && ST_bytes=${BASH_REMATCH[1]}
	[[ $ST =~ \"t_end\":\ ([0-9.]+) ]] && ST_t_end=${BASH_REMATCH[1]}
	return 0
}

# Every named counter (packets) of `nft list counters` on stdin into CNT.
declare -A CNT
counters() {
	local line name=
	CNT=()
	while read -r line; do
		if [[ $line =~ ^counter\ ([^ ]+)\ \{ ]]; then
			name=${BASH_REMATCH[1]}
		elif [[ -n $name && $line =~ ^packets\ ([0-9]+) ]]; then
			CNT[$name]=${BASH_REMATCH[1]}
			name=
		fi
	done
}

# The server (every round's flow) and the client of each round, started
# early (a Python start costs seconds under TCG) but held until the rounds
# open their gates: $tmp/serve.gate, then $rdir/fetch.gate.
spawn_server() {
	local name specs=()
	for name in "$@"; do
		specs+=("$name,tcp,10.0.2.2,${PORT[$name]},$tmp/data.bin,$SIZE,$RATE")
	done
	ip netns exec "$server" "${XF[@]}" "$tmp/serve.gate" serve --dir "$tmp" \
		--go "$tmp/go" "${specs[@]}" </dev/null >"$tmp/serve.out" 2>&1 &
	_pids+=("$!")
}

declare -A CPID
spawn_fetch() {
	local name=$1 rdir=$tmp/$1 idle=$IDLE_OK
	mkdir -p "$rdir"
	[[ $name == control ]] && idle=$DEADLINE # stopped by round
	ip netns exec "$client" "${XF[@]}" "$rdir/fetch.gate" fetch --dir "$rdir" \
		--idle "$idle" --deadline "$DEADLINE" --mark "0,$rdir/mark" \
		"$name,tcp,10.0.2.2,${PORT[$name]},$tmp/data.bin,$SIZE,$MARK" \
		</dev/null >"$rdir/fetch.out" 2>&1 &
	CPID[$name]=$!
	_pids+=("$!")
}

# round NAME: a transfer, the ACK outage, the crash, the ACKs back.  Sets
# outcome (completed, stalled, recovered, or how the client gave up),
# bytes, stall (the longest pause ending after the outage began, s),
# restored, the counters' deltas acks, invalid, drops, and logged (the
# INVALID reasons conntrack logged for the flow, counted).
round() {
	local name=$1 rdir=$tmp/$1 dm0 t_go t_loss t_crash t_flush t_resume t_back \
		b_back deadline klog reason ok gaps last_rx i_back
	local -A c0
	local k
	local -a params
	read -r -a params <<<"$(ct_params "$name")"
	if mod_loaded nf_ckpt_ct; then rmmod nf_ckpt_ct || die "rmmod nf_ckpt_ct failed"; fi
	load_ct "${params[@]}"
	counters < <(R nft list counters)
	for k in "a_$name" "i_$name" "d_$name"; do c0[$k]=${CNT[$k]:-0}; done
	touch "$tmp/serve.gate"
	wait_until 60 test -e "$tmp/serve.ready" ||
		die "the server did not start: $(cat "$tmp/serve.out")"
	touch "$rdir/fetch.gate"
	wait_until 60 test -e "$rdir/fetch.connected" ||
		die "the client did not connect: $(cat "$rdir/fetch.out")"
	t_go=$EPOCHREALTIME
	touch "$tmp/go"
	wait_until 60 test -e "$rdir/mark" || info "$name: the transfer is slow to start"

	# The outage: ACKs lost, then the firewall crashes.
	ack_drop_on "$name"
	t_loss=$EPOCHREALTIME
	nap "$ACK_DROP"
	dm0=$(dmesg | wc -l)
	t_crash=$EPOCHREALTIME
	rmmod nf_ckpt_ct || die "rmmod nf_ckpt_ct failed"
	R conntrack -F 2>&1 | {
		read -r _ || true
		echo "$EPOCHREALTIME" >"$tmp/flushed"
		cat >/dev/null
	}
	t_flush=$(<"$tmp/flushed")
	insmod "$CT_KO" "${params[@]}" || die "insmod nf_ckpt_ct ${params[*]} failed"
	[[ $name == reload ]] && reload_ct "${params[@]}"
	t_resume=$EPOCHREALTIME
	assist=-
	read -r assist 2>/dev/null </sys/module/nf_ckpt_ct/parameters/relearn_assist || true
	ack_drop_off
	t_back=$EPOCHREALTIME
	i_back=${CNT[i_$name]:-0}
	st_read "$name"
	b_back=$ST_bytes
	info "$name: ACKs dropped from $(rel "$t_go" "$t_loss") s after the start" \
		"(the client at $b_back bytes then), crash $(rel "$t_loss" "$t_crash") s later;" \
		"table flushed after $(rel "$t_crash" "$t_flush") s, nf_ckpt_ct back after" \
		"$(rel "$t_crash" "$t_resume") s, the ACKs pass again after" \
		"$(rel "$t_crash" "$t_back") s"

	outcome=
	if [[ $name == control ]]; then
		# Dead: not one new byte for IDLE_DEAD s once the ACKs pass
		# again, and at least as long as the outage has lasted plus 4 s:
		# the server retransmits (RTO backoff) at least once meanwhile.
		dead_for=$((${t_back%.*} - ${t_loss%.*} + 4))
		((dead_for > IDLE_DEAD)) || dead_for=$IDLE_DEAD
		deadline=$((SECONDS + dead_for))
		while ((SECONDS < deadline)); do
			st_read "$name"
			[[ -n $ST_t_end ]] && break
			if ((ST_bytes > b_back)); then
				outcome=recovered
				break
			fi
			nap 0.2
		done
		[[ -z $outcome && -z $ST_t_end ]] && outcome=stalled
		touch "$rdir/$name.stop"
	fi
	wait "${CPID[$name]}" 2>/dev/null || true

	st_read "$name"
	bytes=$ST_bytes reason=none ok=0 gaps='' last_rx=0
	[[ $ST =~ \"reason\":\ \"([a-z-]+)\" ]] && reason=${BASH_REMATCH[1]}
	[[ $ST =~ \"ok\":\ true ]] && ok=1
	[[ $ST =~ \"gaps\":\ \[([][0-9., ]*)\] ]] && gaps=${BASH_REMATCH[1]}
	[[ $ST =~ \"last_rx\":\ ([0-9.]+) ]] && last_rx=${BASH_REMATCH[1]}
	if [[ -z $ST_t_end || $reason == error ]]; then
		ktap_info "$name: the client ended badly: ${ST:-no status}"
		sed 's/^/#   /' "$tmp/serve.out" "$rdir/fetch.out" 2>/dev/null | head -c 2000 || true
	fi
	# The longest pause ending after the outage began; a pause still open
	# at the end counts unless the transfer completed.
	stall=$(awk -v g="$gaps" -v c="$t_loss" -v open=$((ok == 0)) \
		-v l="$last_rx" -v e="${ST_t_end:-0}" 'BEGIN {
			gsub(/[][ ]/, "", g); n = split(g, x, ",")
			m = 0
			for (i = 1; i < n; i += 2)
				if (x[i + 1] > c && x[i + 1] - (x[i] > c ? x[i] : c) > m)
					m = x[i + 1] - (x[i] > c ? x[i] : c)
			if (open && e > 0 && e - (l > c ? l : c) > m)
				m = e - (l > c ? l : c)
			printf "%.2f", m }')
	if [[ -z $outcome ]]; then
		if ((ok)); then
			outcome=completed
		elif [[ $reason == idle ]]; then
			outcome=stalled
		else
			outcome=$reason
		fi
	fi
	counters < <(R nft list counters)
	invalid_back=$((${CNT[i_$name]:-0} - i_back))
	for k in a i d; do
		c0[$k]=$((${CNT[${k}_$name]:-0} - ${c0[${k}_$name]}))
	done
	acks=${c0[a]} invalid=${c0[i]} drops=${c0[d]}
	klog=$(dmesg | tail -n "+$((dm0 + 1))" | awk -v ns="$router_ns" -v port="${PORT[$name]}" '
		$0 ~ "nf_ckpt_ct: netns " ns ": restored " {
			sub(/.*: restored /, ""); split($0, f, /, existing /)
			restored += f[1]; existing += f[2] }
		/nf_ct_(proto_6|tcp): / && $0 ~ "[SD]PT=" port " " {
			sub(/.*nf_ct_(proto_6|tcp): /, ""); sub(/ IN=.*/, ""); gsub(/[0-9]+/, "N")
			if (!($0 in seen)) order[++k] = $0
			seen[$0]++ }
		END {
			printf "%d|%d|", restored, existing
			for (i = 1; i <= k; i++)
				printf "%s%d x %s", (i > 1 ? "; " : ""), seen[order[i]], order[i]
			print "" }')
	restored=${klog%%|*}
	klog=${klog#*|}
	existing=${klog%%|*}
	logged=${klog#*|}
	ktap_info "$(printf '%-27s %s at %s of %s bytes (%s); longest stall %s s;' \
		"${DESC[$name]}:" "$outcome" "$bytes" "$SIZE" "$reason" "$stall")" \
		"ACKs dropped by the outage: $acks; router: INVALID $invalid ($invalid_back once" \
		"the ACKs passed again), drop rule $drops;" \
		"restored $restored, existing $existing, relearn_assist=$assist"
	ktap_info "  conntrack logged: ${logged:-nothing}"
	rmmod nf_ckpt_ct || die "rmmod nf_ckpt_ct failed"
}

# ---------------------------------------------------------------- set up
for m in nf_ckpt_ct nf_ckpt_store; do
	if mod_loaded $m; then rmmod $m || die "$m is loaded and cannot be removed"; fi
done
modprobe nf_conntrack
modprobe nf_log_syslog 2>/dev/null || true
topo_client_router_server
head -c "$SIZE" /dev/urandom >"$tmp/data.bin"
has_param=0
modinfo -F parm "$CT_KO" | grep -q '^relearn_assist:' && has_param=1
rounds=(control)
((has_param)) && rounds+=(assist reload)
spawn_server "${rounds[@]}"
for r in "${rounds[@]}"; do spawn_fetch "$r"; done
# Diagnostics: conntrack logs why it finds a segment INVALID (logging from
# other netns than the first one is off by default).
if [[ -w /proc/sys/net/netfilter/nf_log_all_netns ]]; then
	log_all=$(</proc/sys/net/netfilter/nf_log_all_netns)
	echo 1 >/proc/sys/net/netfilter/nf_log_all_netns
	at_exit "echo $log_all >/proc/sys/net/netfilter/nf_log_all_netns"
fi
# One command in the router's netns (each costs seconds under TCG).
router_ns=$(R sh -c "sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0 &&
	{ sysctl -qw net.netfilter.nf_conntrack_log_invalid=6 || true; } &&
	nft -f '$tmp/ruleset.nft' && readlink /proc/self/ns/net") ||
	die "the router's set-up failed"
router_ns=${router_ns//[!0-9]/}
info "set up: $((SIZE / M)) MiB at $((RATE / 1024)) KiB/s; the client's ACKs" \
	"dropped from $((MARK / 1024)) KiB on, $ACK_DROP s before the crash;" \
	"nf_ckpt_ct $( ((has_param)) && echo has || echo "has no") relearn_assist"

load_store

# ---------------------------------------------------------------- 1. control
round control
check "control (relearn_assist=0): the outage drops the client's ACKs ($acks)" \
	test "$acks" -gt 0
if [[ $outcome == stalled ]]; then
	ok "control (relearn_assist=0): the flow stalls for good (nothing for $dead_for s" \
		"once the ACKs pass, longest stall $stall s)"
else
	fail "control (relearn_assist=0): the flow stalls for good: $outcome," \
		"$bytes bytes"
fi
check "control: the router finds the flow INVALID once the ACKs pass again ($invalid_back)" \
	test "$invalid_back" -gt 0

# ---------------------------------------------------------------- 2. assist
if ((has_param)); then
	round assist
	check "relearn_assist on by default ($assist); the restore re-creates the connection ($restored); the outage drops the client's ACKs ($acks)" \
		test "$assist" = Y -a "${restored:-0}" -ge 1 -a "$acks" -gt 0
	check "relearn_assist on: the transfer completes, sha256 right ($outcome, longest stall $stall s)" \
		test "$outcome" = completed
else
	fail "relearn_assist on by default: nf_ckpt_ct has no relearn_assist parameter"
	fail "relearn_assist on: the transfer completes (not run)"
fi

# ---------------------------------------------------------------- 3. reload
if ((has_param)); then
	round reload
	check "reload: the restore re-creates the connection ($restored), the reloaded nf_ckpt_ct finds it in the table ($existing); the outage drops the client's ACKs ($acks)" \
		test "${restored:-0}" -ge 1 -a "${existing:-0}" -ge 1 -a "$acks" -gt 0
	check "reload: nf_ckpt_ct reloaded before the client's first segment after the restore: the transfer completes, sha256 right ($outcome, longest stall $stall s)" \
		test "$outcome" = completed
else
	fail "reload: nf_ckpt_ct has no relearn_assist parameter"
	fail "reload: the transfer completes (not run)"
fi
ktap_finished
