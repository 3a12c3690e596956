#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A flow offloaded to an nft flowtable passes no netfilter hook while it
# lives: nf_ckpt_ct must keep its records alive anyway, so that it
# survives a crash.
#
# client -- router -- server; the router has a flowtable on both veths
# (software offload: its ingress hook forwards the flow's packets itself),
# `flow add` for TCP in a forward chain ahead of the strict ruleset of the
# crash tests (policy drop, established/related accepted, new TCP only on
# a bare SYN from the client, nf_conntrack_tcp_loose=0), and short
# lifetimes: nf_conntrack_tcp_timeout_established=$EST s, nf_ckpt_ct's
# grace_ms=$GRACE_MS and update_interval_ms=1000.  The last records a hook
# writes before the offload expire $EST + 1 + $GRACE_MS/1000 s later;
# nothing but nf_ckpt_ct's own refresh of offloaded conntracks writes them
# again (conntrack keeps the offloaded conntrack's timeout a day ahead).
# The server sends to the client at $RATE bytes/s.
#   1. control, nf_ckpt_ct not loaded: a flow, offloaded, then conntrack -F
#      on the router: the flow dies (no byte for $IDLE_DEAD s);
#   2. nf_ckpt_ct loaded: a flow, offloaded; $HOLD s later it still moves
#      data and its records are still in the store; then the crash
#      (rmmod nf_ckpt_ct; conntrack -F; insmod nf_ckpt_ct, restore on
#      load): the flow goes on and completes, sha256 right.
set -e
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# $client, $router, $server: set by topo_client_router_server.
# shellcheck disable=SC2154

require_modules_built
require_cmd nft conntrack modprobe
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
XFER=$NFCKPT_ROOT/selftests/nf_ckpt_xfer.py
[[ -r $XFER ]] || ktap_skip_all "nf_ckpt_xfer.py missing"
modprobe nf_flow_table_inet 2>/dev/null || ktap_skip_all "no nf_flow_table_inet"
modprobe nft_flow_offload 2>/dev/null || ktap_skip_all "no nft_flow_offload"

EST=15		# s, nf_conntrack_tcp_timeout_established on the router
GRACE_MS=2000
HOLD=$((EST + 1 + GRACE_MS / 1000 + 12))	# past the records' expiry and a refresh period
RATE=$((32 * 1024))
IDLE_DEAD=12	# control: nothing for this long = dead
IDLE_OK=30	# after the crash, the flow may pause this long (RTO backoff)
declare -A PORT=([control]=5301 [ckpt]=5302)
declare -A SIZE=([control]=$((RATE * 60)) [ckpt]=$((RATE * (HOLD + 20))))

ktap_plan 8

tmp=$(mktemp -d)
at_exit "rm -rf $tmp"
at_exit kill_all

for m in nf_ckpt_ct nf_ckpt_store; do
	mod_loaded "$m" && rmmod "$m"
done
modprobe nf_conntrack
topo_client_router_server
R sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0
R sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_established=$EST

{
	cat <<'NFT'
table inet filter {
	flowtable f {
		hook ingress priority 0; devices = { veth0, veth1 };
	}
	chain to_flowtable {
		type filter hook forward priority filter - 1;
		meta l4proto tcp flow add @f
	}
NFT
	strict_router_chains
	cat <<'NFT'
		counter drop
	}
}
NFT
} >"$tmp/ruleset.nft"
R nft -f "$tmp/ruleset.nft" || die "router ruleset"

head -c "${SIZE[ckpt]}" /dev/urandom >"$tmp/data.bin"

# The status of flow $1 (rewritten every 0.2 s by the client) into
# ST_bytes, ST_done, ST_ok, ST_reason.
st_read() {
	local st=
	{ read -r st <"$tmp/$1/$1.st"; } 2>/dev/null || true
	ST_bytes=0 ST_done=false ST_ok=false ST_reason=
	[[ $st =~ \"bytes\":\ ([0-9]+) ]] && ST_bytes=${BASH_REMATCH[1]}
	[[ $st =~ \"done\":\ (true|false) ]] && ST_done=${BASH_REMATCH[1]}
	[[ $st =~ \"ok\":\ (true|false) ]] && ST_ok=${BASH_REMATCH[1]}
	[[ $st =~ \"reason\":\ \"([a-z]+)\" ]] && ST_reason=${BASH_REMATCH[1]}
	return 0
}

# start NAME IDLE: server and client of flow NAME; returns once data
# comes in.
start() {
	local name=$1 idle=$2 d=$tmp/$1 spec
	mkdir -p "$d"
	spec="$name,tcp,10.0.2.2,${PORT[$name]},$tmp/data.bin,${SIZE[$name]}"
	ip netns exec "$server" "$PY" "$XFER" serve --dir "$d" "$spec,$RATE" \
		</dev/null >"$d/serve.out" 2>&1 &
	_pids+=("$!")
	wait_until 60 test -e "$d/serve.ready" || die "$name: server not ready"
	ip netns exec "$client" "$PY" "$XFER" fetch --dir "$d" --idle "$idle" \
		--deadline 300 "$spec" </dev/null >"$d/fetch.out" 2>&1 &
	_pids+=("$!")
	got_some() { st_read "$1"; ((ST_bytes > 0)); }
	wait_until 60 got_some "$name" || die "$name: no data"
}

# The flow's conntrack on the router is in the flowtable.
offloaded() {
	R conntrack -L -p tcp --orig-port-dst "${PORT[$1]}" 2>/dev/null | grep -q OFFLOAD
}

# Its records: a line of `ckptctl list` on the router.
recorded() {
	R "$CKPTCTL" list 2>/dev/null | grep -q "dport=${PORT[$1]} "
}

# Bytes come in: more than $2 within $3 s (10).
moving() {
	local name=$1 b0=$2
	more() { st_read "$name"; ((ST_bytes > b0)); }
	wait_until "${3:-10}" more
}

crash_flush() {
	R conntrack -F >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- control
start control "$IDLE_DEAD"
check "control: the flow is offloaded" wait_until 30 offloaded control
st_read control
info "control: ${ST_bytes} bytes, conntrack -F"
crash_flush
wait_until $((IDLE_DEAD + 60)) eval 'st_read control; [[ $ST_done == true ]]' || true
st_read control
info "control: ended ($ST_reason) at $ST_bytes of ${SIZE[control]} bytes"
check "control: without nf_ckpt_ct the flow dies at the flush ($ST_reason)" \
	test "$ST_reason" == idle

# ---------------------------------------------------------------- ckpt
load_ct grace_ms=$GRACE_MS update_interval_ms=1000
start ckpt "$IDLE_OK"
check "the flow is offloaded" wait_until 30 offloaded ckpt
check "its records are in the store" recorded ckpt
t_off=$SECONDS
info "offloaded; holding $HOLD s"
wait_until $((HOLD + 30)) eval '((SECONDS - t_off >= HOLD))' || true
st_read ckpt
b_hold=$ST_bytes
info "after $((SECONDS - t_off)) s: $b_hold bytes; $(R conntrack -L -p tcp --orig-port-dst "${PORT[ckpt]}" 2>/dev/null)"
info "store: $(R "$CKPTCTL" list 2>/dev/null | grep "dport=${PORT[ckpt]} " || echo none)"
check "the flow still moves data, offloaded" eval 'moving ckpt "$b_hold" && offloaded ckpt'
check "its records are still in the store after $HOLD s" recorded ckpt

# The crash.
st_read ckpt
b_crash=$ST_bytes
rmmod nf_ckpt_ct
crash_flush
insmod "$CT_KO" grace_ms=$GRACE_MS update_interval_ms=1000
info "crash at $b_crash bytes: $(dmesg | grep 'nf_ckpt_ct: netns' | tail -1)"
# More than what was in flight: 8 s of data at the rate past the crash
# (the flowtable forwards for a moment after the flush, until its GC
# drops the dead conntrack's flow).
check "the flow goes on after the crash" moving ckpt $((b_crash + 8 * RATE)) "$IDLE_OK"
done_ckpt() { st_read ckpt; [[ $ST_done == true ]]; }
wait_until 300 done_ckpt || true
st_read ckpt
info "ckpt: ended ($ST_reason), $ST_bytes of ${SIZE[ckpt]} bytes, ok $ST_ok"
check "the transfer completes, sha256 right" test "$ST_ok" == true

ktap_finished
