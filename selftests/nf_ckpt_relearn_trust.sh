#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# What nf_ckpt_ct's relearn hook trusts (issue #13 item 3).  The hook runs
# before nf_conntrack_in() for a while after a restore and may raise a TCP
# direction's td_end to what a segment acknowledges; a spoofed segment with
# a guessed tuple must not get that trust.
#
# client -- router -- server, the strict ruleset of nf_ckpt_relearn.sh on
# the router (forward: policy drop, established/related accepted, new TCP
# only on a bare SYN from the client; nf_conntrack_tcp_loose=0,
# nf_conntrack_checksum=1).  Every segment is crafted
# (nf_ckpt_relearn_trust.py): sent with a raw socket on one side, seen
# arriving (or not) on the other, whose stack drops all TCP unseen.
#
# Five connections are opened (three-way handshakes), nf_ckpt_ct crashes
# (rmmod; conntrack -F; insmod: restore on load) and the client's pure ACK
# re-learns the client's direction of each.  Then:
#   1-2. flows "sum", "doff": the server side sends a segment with a bad
#        TCP checksum / a data offset beyond the segment (both INVALID to
#        conntrack) acknowledging 1000 bytes the client never sent (within
#        the restored window: only the validity checks can stop it); then
#        the server's data (re-learning its direction) and a valid segment
#        acknowledging 500 bytes the client never sent: it must be dropped
#        ("ACK is over upper bound"), and the client's ACK of the data pass;
#   3-4. flow "far": the same with a valid segment acknowledging 1 GiB
#        beyond the restored window: it is dropped itself (only the bound
#        can stop it), and so is the 500-byte one after it;
#   5.   a fresh connection (SYN_SENT, not restored) hit by a server-side
#        ACK 1 GiB beyond its SYN before the SYN/ACK: the handshake
#        completes (the client's ACK arrives, conntrack ESTABLISHED);
#   6-7. legitimate relearning still works (nf_ckpt_relearn.sh with real
#        transfers is the full test): flows "keep" and "off" had 1000 bytes
#        of server data after the last checkpoint that the client never
#        ACKed; after the restore the server retransmits the first 500 and
#        the client ACKs all 1000: with relearn_assist the ACK passes, with
#        it turned off it is dropped (the control: the case is real).
set -e
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# $client, $router, $server: set by topo_client_router_server.
# shellcheck disable=SC2154

require_modules_built
require_cmd nft conntrack
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
HELPER=$NFCKPT_ROOT/selftests/nf_ckpt_relearn_trust.py
[[ -r $HELPER ]] || ktap_skip_all "nf_ckpt_relearn_trust.py missing"

# Records only on state changes: the server data of "keep" and "off"
# after the handshake must not reach the store.
CT_PARAMS=(update_interval_ms=3600000)
GIB=$((1 << 30))
# Client port, server port, client and server initial sequence numbers.
declare -A CP=([sum]=40001 [doff]=40002 [far]=40003 [keep]=40004 [off]=40005 [fresh]=40010)
declare -A SP=([sum]=7001 [doff]=7002 [far]=7003 [keep]=7004 [off]=7005 [fresh]=7010)
declare -A CS=([sum]=$((0x11000000)) [doff]=$((0x12000000)) [far]=$((0x13000000))
	[keep]=$((0x14000000)) [off]=$((0x15000000)) [fresh]=$((0x16000000)))
declare -A SS=([sum]=$((0x21000000)) [doff]=$((0x22000000)) [far]=$((0x23000000))
	[keep]=$((0x24000000)) [off]=$((0x25000000)) [fresh]=$((0x26000000)))
RESTORED=(sum doff far keep off)

ktap_plan 7

tmp=$(mktemp -d)
at_exit "rm -rf $tmp"

# seg FLOW c|s SEQ_OFFSET ACK_OFFSET FLAGS LEN [opts]: one segment of FLOW
# from the client or the server, sequence numbers relative to the ISNs
# (the SYN's own is 0); sets got (arrived / lost).
seg() {
	local f=$1 from=$2 seq ack
	if [[ $from == c ]]; then
		seq=$((CS[$f] + $3)) ack=$((SS[$f] + $4))
	else
		seq=$((SS[$f] + $3)) ack=$((CS[$f] + $4))
	fi
	echo "send $from ${CP[$f]} ${SP[$f]} $seq $ack ${*:5}" >&"${SEG[1]}"
	got=
	read -r -t 30 got <&"${SEG[0]}" || die "the segment tool did not answer"
	[[ $got == arrived || $got == lost ]] || die "the segment tool: $got"
	info "$f: $from seq +$3 ack +$4 ${*:5}: $got"
}

# seg_expect WANT ...: seg, then got == WANT?  (Collected into the check.)
seg_expect() {
	local want=$1
	shift
	seg "$@"
	[[ $got == "$want" ]]
}

handshake() {
	local f=$1
	seg "$f" c 0 -"${SS[$f]}" S 0 && [[ $got == arrived ]] &&
		seg "$f" s 0 1 SA 0 && [[ $got == arrived ]] &&
		seg "$f" c 1 1 A 0 && [[ $got == arrived ]]
}

ct_state() { # flow: conntrack's TCP state of the flow on the router
	R conntrack -L -p tcp --orig-port-src "${CP[$1]}" --orig-port-dst "${SP[$1]}" 2>/dev/null |
		awk '{ print $4; exit }'
}

# ---------------------------------------------------------------- set up
for m in nf_ckpt_ct nf_ckpt_store; do
	if mod_loaded $m; then rmmod $m || die "$m is loaded and cannot be removed"; fi
done
modprobe nf_conntrack
topo_client_router_server
{
	echo "table inet filter {"
	strict_router_chains
	echo "		counter drop"
	echo "	}"
	echo "}"
} >"$tmp/router.nft"
R sh -c "sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0 &&
	sysctl -qw net.netfilter.nf_conntrack_checksum=1 &&
	nft -f '$tmp/router.nft'" || die "the router's set-up failed"
# The endpoints' stacks never see the crafted segments (no RST back).
for ns in "$client" "$server"; do
	ip netns exec "$ns" nft -f - <<'NFT' || die "the endpoints' set-up failed"
table inet sink {
	chain input {
		type filter hook input priority filter; policy accept;
		meta l4proto tcp drop
	}
}
NFT
done

load_ct "${CT_PARAMS[@]}"
coproc SEG { exec "$PY" -I -S "$HELPER" "$client" "$server" 2>"$tmp/seg.err"; }
at_exit "kill ${SEG_PID:-0}"
read -r -t 60 line <&"${SEG[0]}" || die "the segment tool did not start: $(cat "$tmp/seg.err")"
[[ $line == ready ]] || die "the segment tool: $line $(cat "$tmp/seg.err")"

for f in "${RESTORED[@]}"; do
	handshake "$f" || die "$f: the handshake failed before the crash"
done
# After the last checkpoint (state changes only): 1000 bytes of data the
# client never acknowledges (the ACKs the outage lost).
for f in keep off; do
	seg_expect arrived "$f" s 1 1 PA 1000 || die "$f: the server's data did not arrive"
done
for f in "${RESTORED[@]}"; do
	[[ $(ct_state "$f") == ESTABLISHED ]] || die "$f: not ESTABLISHED before the crash"
done

# ---------------------------------------------------------------- crash
rmmod nf_ckpt_ct || die "rmmod nf_ckpt_ct failed"
R conntrack -F >/dev/null 2>&1 || true
insmod "$CT_KO" "${CT_PARAMS[@]}" || die "insmod nf_ckpt_ct failed"
n=0
for f in "${RESTORED[@]}"; do
	[[ $(ct_state "$f") == ESTABLISHED ]] && n=$((n + 1))
done
((n == ${#RESTORED[@]})) || die "the restore re-created $n of ${#RESTORED[@]} connections"
info "restored: ${RESTORED[*]}"

# The client's pure ACK re-learns the client's direction.
for f in sum doff far; do
	seg_expect arrived "$f" c 1 1 A 0 || die "$f: the client's ACK after the restore did not pass"
done

# ---------------------------------------------------------------- 1-4
# spoofed FLOW AHEAD OPTS: the server side acknowledges AHEAD bytes the
# client never sent; sets spoof (its fate).  survives FLOW: the server's
# data passes (and re-learns its direction), an ACK 500 bytes ahead is
# dropped, the client's ACK of the data passes.
spoofed() {
	seg "$1" s 1 $((1 + $2)) A 0 "${@:3}"
	spoof=$got
}
survives() {
	local f=$1
	seg_expect arrived "$f" s 1 1 PA 100 &&
		seg_expect lost "$f" s 101 501 A 0 &&
		seg_expect arrived "$f" c 1 101 A 0
}
spoofed sum 1000 badsum
check "1: after a bad-checksum segment ACKing 1000 bytes ahead ($spoof), an ACK 500 bytes ahead is still dropped and the restored flow works" \
	survives sum
spoofed doff 1000 doff=15
check "2: after a truncated segment (doff 15) ACKing 1000 bytes ahead ($spoof), an ACK 500 bytes ahead is still dropped and the restored flow works" \
	survives doff
spoofed far "$GIB"
check "3: a valid segment ACKing 1 GiB beyond the restored window is dropped" \
	test "$spoof" = lost
check "4: after it, an ACK 500 bytes ahead is still dropped and the restored flow works" \
	survives far

# ---------------------------------------------------------------- 5
fresh_ok() {
	seg_expect arrived fresh c 0 -"${SS[fresh]}" S 0 || return 1
	seg fresh s 1 $((1 + GIB)) A 0
	info "fresh: the spoofed ACK before the SYN/ACK: $got"
	seg_expect arrived fresh s 0 1 SA 0 &&
		seg_expect arrived fresh c 1 1 A 0 &&
		[[ $(ct_state fresh) == ESTABLISHED ]]
}
check "5: a fresh handshake after the restore completes despite a spoofed ACK 1 GiB ahead" fresh_ok
info "fresh: conntrack $(ct_state fresh)"

# ---------------------------------------------------------------- 6-7
# The server retransmits 500 of the 1000 bytes the client has, and the
# client ACKs all of them.
check "6: relearn_assist: the ACK of data newer than the checkpoint passes" \
	eval 'seg_expect arrived keep s 1 1 PA 500 && seg_expect arrived keep c 1 1001 A 0'
echo N >/sys/module/nf_ckpt_ct/parameters/relearn_assist
check "7: control, relearn_assist off: the same ACK is dropped" \
	eval 'seg_expect arrived off s 1 1 PA 500 && seg_expect lost off c 1 1001 A 0'
echo Y >/sys/module/nf_ckpt_ct/parameters/relearn_assist
ktap_finished
