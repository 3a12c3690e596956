#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nf_ckpt_ct restore (issue #5): connections survive a firewall crash,
# reload or conntrack loss.  Files cross a strict stateful router
# (client -- router -- server; forward: policy drop, established/related
# accepted, new TCP only on a SYN from the client, new UDP only from the
# client, a counter on the final drop rule; input: policy drop too;
# nf_conntrack_tcp_loose=0) at a limited rate, and each crash lands
# mid-transfer:
#   1. rmmod/insmod nf_ckpt_ct: the transfer completes, sha256 right, no
#      drop, the connection keeps its ID;
#   2. conntrack -F + ckptctl restore, and rmmod nf_ckpt_ct; conntrack -F;
#      insmod (restore on load): the transfers complete;
#   3. the whole netfilter stack (forwarding stops, ruleset, nf_ckpt_ct,
#      conntrack, NAT and nf_tables modules) out and back in while
#      nf_ckpt_store stays;
#   4. with masquerade (fully-random ports): the server sees the same
#      source address:port before and after (captured on the server);
#   6. IPv6, and a UDP stream the server sends to the client (only
#      "established" lets it through);
#   7. strictness: after the restore, a segment of the restored flow 1 GiB
#      beyond the window (raw socket) is INVALID and hits the drop counter,
#      an in-window copy passes, and the flow is not in liberal mode;
#   8. controls: 2, 4 and 6 with nfckpt absent and with restore=0, 3 with
#      nfckpt absent, must show the flows dying (no progress for
#      $IDLE_DEAD s after the crash).
# Each case prints the longest stall across the crash and the drop counters.
# FTP (case 5) is nf_ckpt_restore_ftp.sh.  Transfers: nf_ckpt_xfer.py.
set -e
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# $client, $router, $server: set by topo_client_router_server.
# shellcheck disable=SC2154

require_modules_built
require_cmd nft conntrack jq tcpdump modprobe
[[ -x $CKPTCTL ]] || ktap_skip_all "ckptctl not built: make tools"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
[[ -r $NFCKPT_ROOT/selftests/nf_ckpt_xfer.py ]] || ktap_skip_all "nf_ckpt_xfer.py missing"

# Flows: protocol, server address, port, size, rate (bytes/s).  tcp4,
# masq, tcp6 and udp4 cross one crash together, their controls c* too;
# "one" is alone (cases 1, 2b, 3).  "probe" carries the checks that need a
# live flow after the crash (IDs, strictness): slow and long, it is
# stopped once checked.  Each flow has its own port and drop counter
# d_<flow>: leftovers of dead flows (orphaned sockets retransmitting) hit
# only their own counter.  The transfers last 20 s: under TCG every
# command takes a good fraction of a second (several on a loaded host), and
# the crash must land mid-transfer.
FLOWS_ALL="tcp4 masq tcp6 udp4"
FLOWS_CTL="ctcp4 cmasq ctcp6 cudp4"
declare -A F_PROTO=([tcp4]=tcp [masq]=tcp [tcp6]=tcp [udp4]=udp [one]=tcp [probe]=tcp)
declare -A F_ADDR=([tcp4]=10.0.2.2 [masq]=10.0.2.2 [tcp6]=fd00:2::2 [udp4]=10.0.2.2
	[one]=10.0.2.2 [probe]=10.0.2.2)
declare -A F_PORT=([tcp4]=5001 [masq]=5004 [tcp6]=5006 [udp4]=5002 [one]=5011 [probe]=5008)
M=$((1 << 20))
declare -A F_SIZE=([tcp4]=$((4 * M)) [masq]=$((3 * M)) [tcp6]=$((3 * M)) [udp4]=$((2 * M))
	[one]=$((4 * M)) [probe]=$((4 * M)))
declare -A F_RATE=([tcp4]=209715 [masq]=157286 [tcp6]=157286 [udp4]=104858
	[one]=209715 [probe]=65536)
# The probe counts as started (for the crash) after 64 KiB.
declare -A F_MARK=([probe]=65536)
declare -A F_DESC=([tcp4]="TCP/IPv4" [masq]="TCP/IPv4 masquerade" [tcp6]="TCP/IPv6"
	[udp4]="UDP stream" [one]="TCP/IPv4" [probe]="TCP/IPv4 probe")
for f in $FLOWS_ALL; do
	F_PROTO[c$f]=${F_PROTO[$f]} F_ADDR[c$f]=${F_ADDR[$f]} F_SIZE[c$f]=${F_SIZE[$f]}
	F_PORT[c$f]=$((F_PORT[$f] + 1000)) F_RATE[c$f]=${F_RATE[$f]} F_DESC[c$f]=${F_DESC[$f]}
done
declare -A REP CNT CNT0 BYTES_AT_CRASH

CRASH_PCT=20    # crash once every flow of the run has this much
IDLE_DEAD=10    # control: no progress for this long after the crash = dead
IDLE_OK=30      # a restored flow may pause this long (retransmission backoff)
IDLE_STACK=90   # the same after a stack reload of ~25 s under TCG: the
		# sender's backoff can double the outage
DEADLINE=200    # a transfer's whole life

ktap_plan 26

tmp=$(mktemp -d)
at_exit "rm -rf $tmp"
at_exit kill_all

# The transfer tool, imported so that its bytecode is cached (in $tmp).
XF=("$PY" -I -S -X "pycache_prefix=$tmp/pyc" -c
	"import sys; sys.path.insert(0, sys.argv.pop(1)); import nf_ckpt_xfer; nf_ckpt_xfer.main()"
	"$NFCKPT_ROOT/selftests")

# ---------------------------------------------------------------- flows
# Status of flow $1 without a fork (every fork costs under TCG): sets
# st_bytes, st_sport.
re_bytes='"bytes": ([0-9]+)'
re_sport='"sport": ([0-9]+)'
st_read() {
	local line=
	read -r line <"$rdir/$1.st" 2>/dev/null || true
	st_bytes=0 st_sport=0
	[[ $line =~ $re_bytes ]] && st_bytes=${BASH_REMATCH[1]}
	[[ $line =~ $re_sport ]] && st_sport=${BASH_REMATCH[1]}
	return 0
}

flow_size() {
	echo "${F_SIZE[$1]}"
}

# Start flows $2... with fetch idle limit $1 in a new run directory $rdir:
# the server process, the client process (one thread per flow), then all
# send at once.  $spid, $cpid: the two processes.
runno=0
flows_start() {
	local idle=$1 f sspecs=() cspecs=()
	shift
	runno=$((runno + 1))
	rdir=$tmp/run$runno
	mkdir -p "$rdir"
	for f in "$@"; do
		sspecs+=("$f,${F_PROTO[$f]},${F_ADDR[$f]},${F_PORT[$f]},$tmp/data.bin,${F_SIZE[$f]},${F_RATE[$f]}")
		cspecs+=("$f,${F_PROTO[$f]},${F_ADDR[$f]},${F_PORT[$f]},$tmp/data.bin,${F_SIZE[$f]}${F_MARK[$f]:+,${F_MARK[$f]}}")
	done
	ip netns exec "$server" "${XF[@]}" serve --dir "$rdir" --go "$rdir/go" \
		"${sspecs[@]}" </dev/null >"$rdir/serve.out" 2>&1 &
	spid=$!
	_pids+=("$spid")
	wait_until 60 test -e "$rdir/serve.ready" ||
		die "the servers did not start: $(cat "$rdir/serve.out")"
	ip netns exec "$client" "${XF[@]}" fetch --dir "$rdir" --idle "$idle" \
		--deadline "$DEADLINE" --mark "$CRASH_PCT,$rdir/mark" \
		"${cspecs[@]}" </dev/null >"$rdir/fetch.out" 2>&1 &
	cpid=$!
	_pids+=("$cpid")
	wait_until 60 test -e "$rdir/fetch.connected" ||
		die "the clients did not connect: $(cat "$rdir/fetch.out")"
	touch "$rdir/go"
}

# REP[flow.key]: the facts of nf_ckpt_xfer.py report.
flows_report() { # crash resume flow...
	local crash=$1 resume=$2 n k v
	shift 2
	"${XF[@]}" report --dir "$rdir" --crash "$crash" --resume "$resume" "$@" \
		>"$rdir/report" 2>&1 || true
	REP=()
	while read -r n k v; do
		REP[$n.$k]=$v
	done <"$rdir/report"
}

# Counters of the router's inet filter table: CNT[name] for the named ones,
# CNT[all] for the final "counter drop" rule of the forward chain,
# CNT[input] for the one of the input chain.
nft_counters() {
	local line name='' chain=''
	CNT=([all]=0 [input]=0)
	while read -r line; do
		if [[ $line =~ ^counter\ ([a-z0-9_]+)\ \{ ]]; then
			name=${BASH_REMATCH[1]}
		elif [[ -n $name && $line =~ ^packets\ ([0-9]+) ]]; then
			CNT[$name]=${BASH_REMATCH[1]}
			name=
		elif [[ $line =~ ^chain\ ([a-z]+)\ \{ ]]; then
			chain=${BASH_REMATCH[1]}
		elif [[ $line =~ ^counter\ packets\ ([0-9]+)\ bytes\ [0-9]+\ drop$ ]]; then
			if [[ $chain == input ]]; then
				CNT[input]=${BASH_REMATCH[1]}
			else
				CNT[all]=${BASH_REMATCH[1]}
			fi
		fi
	done < <(R nft list table inet filter 2>/dev/null)
}

drops_of() { # flow
	nft_counters
	echo "${CNT[d_$1]:-0}"
}

# Packets counter $1 (a flow, or "all") counted since the start of the
# last run (a reloaded ruleset restarted at 0).
drops_since() {
	local k=d_$1 n
	[[ $1 == all || $1 == input ]] && k=$1
	n=${CNT[$k]:-0}
	((n >= ${CNT0[$k]:-0})) && n=$((n - ${CNT0[$k]:-0}))
	echo "$n"
}

ct_invalid() {
	local line n=0
	while read -r line; do
		[[ $line =~ \ invalid=([0-9]+) ]] && n=$((n + BASH_REMATCH[1]))
	done < <(R conntrack -S 2>/dev/null)
	echo "$n"
}

flow_info() { # label flow
	local f=$2 in=''
	[[ -n ${CNT[d_${f}_in]:-} ]] && in=" (router input: $(drops_since "${f}_in"))"
	ktap_info "$1 ${F_DESC[$f]}: ${REP[$f.bytes]}/${REP[$f.size]} bytes," \
		"end ${REP[$f.reason]}, stall across the crash ${REP[$f.stall]} s," \
		"longest gap ${REP[$f.max_gap]} s, drops $(drops_since "$f")$in"
	if [[ ${F_PROTO[$f]} == udp ]]; then
		ktap_info "$1 ${F_DESC[$f]}: datagrams sent/delivered: after the crash" \
			"${REP[$f.sent_crash]}/${REP[$f.delivered_crash]}, after service was back" \
			"${REP[$f.sent_after]}/${REP[$f.delivered_after]}; client UDP" \
			"$(C awk '/^Udp:/ { if (h) print "InErrors " $4 ", RcvbufErrors " $6; h = 1 }' /proc/net/snmp)"
	fi
	if [[ ${REP[$f.reason]} == error || ${REP[$f.reason]} == no-status* ]]; then
		sed 's/^/#   /' "$rdir/serve.out" "$rdir/fetch.out" 2>/dev/null | head -c 2000 || true
	fi
}

# The flow went through: TCP complete with the right sha256; UDP: the end
# marker came and at least 90% of what was sent once service was back.
flow_survived() {
	local f=$1
	if [[ ${F_PROTO[$f]} == udp ]]; then
		local s=${REP[$f.sent_after]:-0} d=${REP[$f.delivered_after]:-0}
		[[ ${REP[$f.reason]} == end ]] && ((s > 0 && d * 10 >= s * 9))
	else
		[[ ${REP[$f.ok]} == 1 ]]
	fi
}

# The flow died at the crash: nothing for $IDLE_DEAD s, and it was still
# going when the crash came.
flow_died() {
	local f=$1
	[[ ${REP[$f.reason]} == idle ]] && ((${BYTES_AT_CRASH[$f]:-0} < $(flow_size "$f")))
}

# ---------------------------------------------------------------- router
{
	echo "table inet filter {"
	for f in "${!F_PORT[@]}" masq_in; do
		echo "	counter d_$f { }"
	done
	# The router's own input is filtered too: after a flush, the replies
	# to a masquerading connection are addressed to the router, and an
	# open input path answers them with a RST that kills the connection
	# before the restore.
	cat <<'NFT'
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iifname "lo" accept
		meta l4proto { icmp, ipv6-icmp } accept
		tcp sport { 5004, 6004 } counter name "d_masq_in"
		counter drop
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "veth0" tcp flags & (fin | syn | rst | ack) == syn ct state new accept
		iifname "veth0" meta l4proto udp ct state new accept
NFT
	# Counting only: what gets here is dropped by the last rule.
	for f in "${!F_PORT[@]}"; do
		fam=ipv4
		[[ ${F_ADDR[$f]} == *:* ]] && fam=ipv6
		for d in dport sport; do
			echo "		meta nfproto $fam ${F_PROTO[$f]} $d ${F_PORT[$f]} counter name \"d_$f\""
		done
	done
	cat <<NFT
		counter drop
	}
}
table ip nat {
	chain post {
		type nat hook postrouting priority srcnat;
		oifname "veth1" tcp dport { ${F_PORT[masq]}, ${F_PORT[cmasq]} } masquerade fully-random
	}
}
NFT
} >"$tmp/ruleset.nft"

router_up() {
	R sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0
	R nft -f "$tmp/ruleset.nft"
}

# ---------------------------------------------------------------- crash runs
# run_crash LABEL IDLE CRASH_FN FLOW...: start the flows, crash with
# CRASH_FN once all have CRASH_PCT percent (it sets t_resume when service
# is back), wait for them to end, fill REP and CNT.  Optional hooks, unset
# afterwards: before_crash (once the flows are connected), after_resume.
run_crash() {
	local label=$1 idle=$2 crash=$3 f at=
	shift 3
	info "$label: start $*"
	nft_counters
	CNT0=()
	for f in "${!CNT[@]}"; do
		CNT0[$f]=${CNT[$f]}
	done
	flows_start "$idle" "$@"
	if declare -F before_crash >/dev/null; then before_crash; fi
	wait_until 90 test -e "$rdir/mark" || info "$label: the flows are slow to start"
	for f in "$@"; do
		st_read "$f"
		BYTES_AT_CRASH[$f]=$st_bytes
		at+="$f=$st_bytes "
	done
	t_crash=$EPOCHREALTIME
	t_resume=$t_crash
	"$crash"
	info "$label: crash ($crash) took $(secs_since "$t_crash") s, at ${at}bytes"
	if declare -F after_resume >/dev/null; then after_resume; fi
	wait "$cpid" 2>/dev/null || true
	kill_pid "$spid"
	flows_report "$t_crash" "$t_resume" "$@"
	nft_counters
	info "$label: final drop rule: $(drops_since all) packets" \
		"(router input: $(drops_since input))"
	unset -f before_crash after_resume
}

crash_flush() {
	R conntrack -F >/dev/null 2>&1
}

crash_flush_restore() {
	R conntrack -F >/dev/null 2>&1
	if ! ckpt restore --json >"$tmp/restore.json" 2>&1; then
		info "ckptctl restore failed: $(cat "$tmp/restore.json")"
	fi
	t_resume=$EPOCHREALTIME
}

crash_reload_ct() {
	rmmod nf_ckpt_ct || die "rmmod nf_ckpt_ct failed"
	insmod "$CT_KO"
	t_resume=$EPOCHREALTIME
}

crash_rmmod_flush_insmod() {
	rmmod nf_ckpt_ct || die "rmmod nf_ckpt_ct failed"
	R conntrack -F >/dev/null 2>&1
	insmod "$CT_KO"
	t_resume=$EPOCHREALTIME
}

# The netfilter stack: nf_conntrack, nf_tables and what holds them,
# transitively (not nf_ckpt_ct), holders first.  Sets stack_mods.
nf_stack_order() {
	local todo=(nf_conntrack nf_tables nf_nat nf_defrag_ipv4 nf_defrag_ipv6)
	local set=" " m h left placed progress
	while ((${#todo[@]})); do
		m=${todo[0]}
		todo=("${todo[@]:1}")
		[[ -d /sys/module/$m && $set != *" $m "* && $m != nf_ckpt_ct ]] || continue
		set+="$m "
		for h in /sys/module/"$m"/holders/*; do
			[[ -e $h ]] && todo+=("${h##*/}")
		done
	done
	stack_mods=()
	placed=" "
	read -r -a left <<<"$set"
	while ((${#left[@]})); do
		local next=()
		progress=0
		for m in "${left[@]}"; do
			local ready=1
			for h in /sys/module/"$m"/holders/*; do
				h=${h##*/}
				[[ -e /sys/module/$m/holders/$h && $set == *" $h "* &&
					$placed != *" $h "* ]] && ready=0
			done
			if ((ready)); then
				stack_mods+=("$m")
				placed+="$m "
				progress=1
			else
				next+=("$m")
			fi
		done
		left=("${next[@]}")
		((progress)) || { stack_mods+=("${left[@]}"); break; }
	done
}

# The firewall goes down completely: the router stops forwarding, the
# ruleset goes, nf_ckpt_ct and every conntrack/NAT/nf_tables module go;
# then all of it comes back: modules, sysctls (tcp_loose is per netns and
# back at 1 with a fresh nf_conntrack), ruleset, forwarding, and
# nf_ckpt_ct unless STACK_CT=absent.  Sets stack_unloaded.
crash_stack() {
	local t0=$SECONDS
	R sysctl -qw net.ipv4.ip_forward=0
	R nft flush ruleset
	if mod_loaded nf_ckpt_ct; then rmmod nf_ckpt_ct; fi
	nf_stack_order
	rmmod "${stack_mods[@]}" 2>"$tmp/rmmod.err" || true
	if mod_loaded nf_conntrack; then
		stack_unloaded=0
		ktap_info "nf_conntrack stays loaded (refcnt" \
			"$(cat /sys/module/nf_conntrack/refcnt 2>/dev/null)): $(cat "$tmp/rmmod.err")"
	else
		stack_unloaded=1
		ktap_info "unloaded in $((SECONDS - t0)) s: ${stack_mods[*]}"
	fi
	modprobe -a "${stack_mods[@]}" || info "modprobe -a ${stack_mods[*]} failed"
	router_up || die "the ruleset does not load after the stack reload"
	R sysctl -qw net.ipv4.ip_forward=1
	[[ ${STACK_CT:-} == absent ]] || insmod "$CT_KO" || die "insmod nf_ckpt_ct failed"
	t_resume=$EPOCHREALTIME
	ktap_info "netfilter stack back after $((SECONDS - t0)) s"
}

# Send a raw segment of flow $2 from the client, mode $1 (in, far); it
# must pass (in) or be dropped as INVALID (far).  Sets raw_ok.
raw_check() {
	local mode=$1 f=$2 d0 i0='' out
	st_read "$f"
	d0=$(drops_of "$f")
	[[ $mode == in ]] || i0=$(ct_invalid)
	raw_ok=0
	if ! out=$(C "${XF[@]}" raw --iface veth0 --src 10.0.1.2 --sport "$st_sport" \
		--dst "${F_ADDR[$f]}" --dport "${F_PORT[$f]}" --mode "$mode" 2>&1); then
		:
	elif [[ $mode == far ]]; then
		wait_until 5 drops_above "$f" "$d0" && raw_ok=1
	else
		nap 1
		drops_above "$f" "$d0" || raw_ok=1
	fi
	info "raw $mode segment: $out; drops $d0 -> $(drops_of "$f")" \
		"${i0:+, conntrack -S invalid $i0 -> $(ct_invalid)}"
}

drops_above() { # flow count
	(($(drops_of "$1") > $2))
}

# ---------------------------------------------------------------- setup
for m in nf_ckpt_ct nf_ckpt_store; do
	if mod_loaded $m; then rmmod $m || die "$m is loaded and cannot be removed"; fi
done
modprobe nf_conntrack
topo_client_router_server
router_up
# Every flow sends a prefix of one random file.
head -c $((4 * M)) /dev/urandom >"$tmp/data.bin"
info "set up"

# ---------------------------------------------------------------- controls
# The flows of cases 2, 4 and 6 must die at conntrack -F.
run_controls() {
	local label=$1 f
	# shellcheck disable=SC2086
	run_crash "$label" "$IDLE_DEAD" crash_flush $FLOWS_CTL
	for f in $FLOWS_CTL; do
		flow_info "$label" "$f"
		if flow_died "$f"; then
			ok "control ($label): conntrack -F kills the ${F_DESC[$f]} flow"
		else
			fail "control ($label): conntrack -F kills the ${F_DESC[$f]} flow" \
				"(${REP[$f.reason]}, ${BYTES_AT_CRASH[$f]} bytes at the crash)"
		fi
	done
}

run_controls "nfckpt absent"

load_store
load_ct restore=0
run_controls "restore=0"

# The records of the dead flows would come back with the next restore.
rmmod nf_ckpt_ct
ckpt flush >/dev/null
insmod "$CT_KO"

# ---------------------------------------------------------------- IDs
# The ID of the flow from client port $1 to server port $2 in the saved
# listing $3 (empty unless exactly one).
id_in() {
	jq -r --argjson sp "$1" --argjson dp "$2" \
		'[.[] | select(.sport == $sp and .dport == $dp) | .id] |
		 if length == 1 then .[0] | tostring else "" end' "$3" 2>/dev/null
}

# The live records: exactly one ID for the flow, the one it had before
# ($3), and rewritten since time $4 (so by a module that found the
# conntrack under that ID).
id_kept() { # sport dport id since
	local age
	ckpt list --json >"$tmp/list_now.json" 2>/dev/null || return 1
	[[ -n $3 && $(id_in "$1" "$2" "$tmp/list_now.json") == "$3" ]] || return 1
	age=$(ckpt show "$3" --json 2>/dev/null | jq '.records.l4.age_ms // 1e12')
	(($(awk -v a="$age" -v t="$(secs_since "$4")" 'BEGIN { print (a / 1000 < t) }')))
}

# The probe's ID before the crash; then its strictness (the raw segment
# tool's in-window copy passes, a segment 1 GiB outside the window is
# dropped) and that it kept its ID; then it stops.  Sets probe_id,
# probe_id_kept, probe_in, probe_far, probe_moved.
probe_moved_on() {
	st_read probe
	((st_bytes >= probe_at_resume + 65536))
}
probe_check() {
	st_read probe
	probe_at_resume=$st_bytes
	probe_sport=$st_sport
	probe_id=$(id_in "$probe_sport" "${F_PORT[probe]}" "$tmp/list_before.json")
	probe_in=0 probe_far=0 probe_moved=0 probe_id_kept=0
	rm -f "$tmp/ct_probe" "$tmp/show_probe"
	if wait_until 60 probe_moved_on; then
		probe_moved=1
		raw_check in probe
		probe_in=$raw_ok
		raw_check far probe
		probe_far=$raw_ok
		R conntrack -L -p tcp --orig-port-src "$probe_sport" --orig-port-dst "${F_PORT[probe]}" \
			>"$tmp/ct_probe" 2>/dev/null || true
		if wait_until 20 id_kept "$probe_sport" "${F_PORT[probe]}" "$probe_id" "$t_resume"; then
			probe_id_kept=1
		fi
		ckpt show "${probe_id:-0}" --json >"$tmp/show_probe" 2>/dev/null || true
	else
		info "the probe did not move after the crash"
	fi
	info "probe: ID ${probe_id:-none} before the crash, after:" \
		"$(id_in "$probe_sport" "${F_PORT[probe]}" "$tmp/list_now.json" 2>/dev/null)"
	touch "$rdir/probe.stop"
}

snapshot_ids() {
	ckpt list --json >"$tmp/list_before.json" 2>/dev/null || true
}

# ---------------------------------------------------------------- case 1
# With the probe: the premise of case 7 (a live flow, left alone by the
# reload, is strictly tracked) and the ID kept across the reload.
before_crash() { snapshot_ids; }
after_resume() { probe_check; }
run_crash "reload" "$IDLE_OK" crash_reload_ct one probe
flow_info "reload:" one
check "1: rmmod/insmod nf_ckpt_ct mid-transfer: the transfer completes, sha256 right" \
	flow_survived one
check "1: rmmod/insmod nf_ckpt_ct: no packet of the flow dropped ($(drops_since one))" \
	test "$(drops_since one)" = 0
check "1: a connection keeps its ID (${probe_id:-none}), re-bound by the reloaded module" \
	test "$probe_id_kept" = 1
check "premise: an in-window raw segment of a live flow passes the router" \
	test "$probe_in" = 1
check "premise: a raw segment 1 GiB outside the window is dropped (INVALID)" \
	test "$probe_far" = 1

# ---------------------------------------------------------------- cases 2, 4, 6, 7
# The probe crosses the crash too: strictness and ID after the restore.
before_crash() { snapshot_ids; }
after_resume() {
	probe_check
	st_read masq
	masq_id=$(id_in "$st_sport" "${F_PORT[masq]}" "$tmp/list_before.json")
	ckpt show "${masq_id:-0}" --json >"$tmp/masq_after.json" 2>/dev/null || true
}
# The source address:port the server sees, captured on the server.
ip netns exec "$server" tcpdump -i veth0 -nn -U -s 96 -Z root -w "$tmp/masq.pcap" \
	"tcp dst port ${F_PORT[masq]}" </dev/null >/dev/null 2>"$tmp/tcpdump.err" &
tcpdump_pid=$!
_pids+=("$tcpdump_pid")
wait_until 30 grep -q 'listening on' "$tmp/tcpdump.err" ||
	info "tcpdump: $(cat "$tmp/tcpdump.err")"
# shellcheck disable=SC2086
run_crash "flush+restore" "$IDLE_OK" crash_flush_restore $FLOWS_ALL probe
kill_pid "$tcpdump_pid"
ktap_info "ckptctl restore: $(cat "$tmp/restore.json" 2>/dev/null)"
for f in $FLOWS_ALL; do
	flow_info "flush+restore:" "$f"
done
restore_ok() {
	[[ -s $tmp/restore.json ]] &&
		jq -e '.restored >= 5 and .failed == 0' "$tmp/restore.json" >/dev/null 2>&1
}
check "2: ckptctl restore --json: the flushed flows restored, none failed" restore_ok
check "2: conntrack -F + ckptctl restore: the TCP/IPv4 transfer completes, sha256 right" \
	flow_survived tcp4
check "2: a restored connection has its ID (${probe_id:-none}), checkpointed under it after the restore" \
	test "$probe_id_kept" = 1
check "4: masquerade: the transfer completes, sha256 right" flow_survived masq
masq_peer=$(jq -r '"\(.peer[0]):\(.peer[1])"' "$rdir/masq.srv" 2>/dev/null || true)
"${XF[@]}" pcap-peers --pcap "$tmp/masq.pcap" --dst "${F_ADDR[masq]}" --dport "${F_PORT[masq]}" \
	--time "$t_resume" >"$tmp/masq.peers" 2>&1 || true
ktap_info "masquerade: the server accepted ${masq_peer:-?}; segments to it by source: $(cat "$tmp/masq.peers")"
ktap_info "masquerade record ${masq_id:-none} before the crash:" \
	"$(jq -c --argjson id "${masq_id:-0}" '.[] | select(.id == $id) | {status, nat}' "$tmp/list_before.json" 2>/dev/null)," \
	"after the restore: $(jq -c '{status, nat}' "$tmp/masq_after.json" 2>/dev/null)"
# Only the accepted peer, before and after, and the flow went on after the
# restore (a dead flow leaves a packet or two in flight).
masq_same_peer() {
	[[ -s $tmp/masq.peers ]] && jq -e --arg p "$masq_peer" '(.before | keys) == [$p] and
		(.after | keys) == [$p] and .after[$p] >= 10' "$tmp/masq.peers" >/dev/null 2>&1
}
check "4: masquerade: the server sees the same source address:port before and after" \
	masq_same_peer
check "6: IPv6: the transfer completes, sha256 right" flow_survived tcp6
check "6: UDP stream: delivered again after the restore (>= 90% of what was sent)" \
	flow_survived udp4
not_liberal() {
	grep -q ESTABLISHED "$tmp/ct_probe" && grep -q ASSURED "$tmp/ct_probe" &&
		! grep -q UNREPLIED "$tmp/ct_probe" && [[ -s $tmp/show_probe ]] &&
		jq -e '.tcp.orig.flags != null and
			((.tcp.orig.flags / 8 | floor) % 2) == 0 and
			((.tcp.reply.flags / 8 | floor) % 2) == 0' "$tmp/show_probe" >/dev/null 2>&1
}
if ((probe_moved)); then
	ktap_info "conntrack -L: $(cat "$tmp/ct_probe" 2>/dev/null)"
	ktap_info "window flags (orig, reply): $(jq -c '[.tcp.orig.flags, .tcp.reply.flags]' "$tmp/show_probe" 2>/dev/null)"
fi
check "7: the restored flow is ESTABLISHED, ASSURED, not liberal" not_liberal
check "7: after the restore an in-window raw segment of the flow passes" test "$probe_in" = 1
check "7: after the restore a segment 1 GiB outside the window is INVALID, dropped" \
	test "$probe_far" = 1

# ---------------------------------------------------------------- case 2b
run_crash "rmmod+flush+insmod" "$IDLE_OK" crash_rmmod_flush_insmod one
flow_info "rmmod+flush+insmod:" one
check "2: rmmod nf_ckpt_ct; conntrack -F; insmod (restore on load): the transfer completes, sha256 right" \
	flow_survived one

# ---------------------------------------------------------------- case 3
run_crash "stack reload" "$IDLE_STACK" crash_stack one
flow_info "stack reload (counters restarted with the ruleset):" one
if ((stack_unloaded)); then
	check "3: netfilter stack reloaded, nf_ckpt_store kept: the transfer completes, sha256 right" \
		flow_survived one
else
	skip "3: netfilter stack reloaded: nf_conntrack cannot be unloaded here"
fi

# ---- control: the same with nfckpt absent.
rmmod nf_ckpt_ct
rmmod nf_ckpt_store
STACK_CT=absent
run_crash "stack reload, nfckpt absent" "$IDLE_DEAD" crash_stack one
flow_info "stack reload, nfckpt absent:" one
if ((stack_unloaded)); then
	if flow_died one; then
		ok "control (nfckpt absent): the netfilter stack reload kills the flow"
	else
		fail "control (nfckpt absent): the netfilter stack reload kills the flow (${REP[one.reason]})"
	fi
else
	skip "control (nfckpt absent): netfilter stack reload: nf_conntrack cannot be unloaded here"
fi

ktap_finished
