#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nf_ckpt_ct's module parameters at their extremes (issue #13, item 7).
# update_interval_ms + grace_ms is how long a record outlives the last
# checkpoint of its conntrack; both are u32 and used to be added as u32, so
# grace_ms=4294967295 with update_interval_ms=1000 made a record expire
# 999 ms after its conntrack instead of never before it.  The sum is now
# taken in 64 bits and capped at a quarter of the u32 jiffies range; and
# update_interval_ms=4294967295 alone became MAX_JIFFY_OFFSET, whose low
# 32 bits put the next refresh in the past: every packet rewrote every
# layer.  And a conntrack timeout above 2^32 ms was recorded modulo
# 2^32 ms (jiffies_to_msecs() is 32-bit).
set -e
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

require_modules_built
require_cmd jq conntrack nft
[[ -x $CKPTCTL ]] || ktap_skip_all "ckptctl not built: make tools"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3

ktap_plan 4

netns_new ns
N() { ip netns exec "$ns" "$@"; }
# A rule that needs conntrack: its hooks are registered per netns on demand.
N nft -f - <<'NFT'
table inet t {
	chain out {
		type filter hook output priority filter; policy accept;
		ct state new counter
	}
}
NFT

load_ct
PARAMS=/sys/module/nf_ckpt_ct/parameters
old_interval=$(cat $PARAMS/update_interval_ms)
old_grace=$(cat $PARAMS/grace_ms)
at_exit "echo $old_interval >$PARAMS/update_interval_ms; echo $old_grace >$PARAMS/grace_ms"

# A UDP flow over lo from port $1 to $1 + 1, both ways, until conntrack calls it ASSURED (and
# nf_ckpt_ct records it): 6.1 and 6.12 want replies for more than 2 s.
udp_flow() { # port
	N "$PY" - "$1" <<'EOF' &
import socket, sys, time
port = int(sys.argv[1])
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
a.bind(("127.0.0.1", port))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b.bind(("127.0.0.1", port + 1))
end = time.time() + 600
while time.time() < end:
    a.sendto(b"ping", ("127.0.0.1", port + 1))
    b.recvfrom(64)
    b.sendto(b"pong", ("127.0.0.1", port))
    a.recvfrom(64)
    time.sleep(0.2)
EOF
	_pids+=($!)
}
at_exit kill_all

# expires_ms of the base record of the flow from port $1 once it is
# ASSURED (before, its timeout is conntrack's 30 s), empty if none.
base_expires() {
	N "$CKPTCTL" list --json | jq -r --argjson sp "$1" \
		'.[] | select(.sport == $sp and (.status | index("ASSURED"))) | .id' |
		head -n1 |
		while read -r id; do
			N "$CKPTCTL" show --json "$id" | jq -r '.records.base.expires_ms // empty'
		done
}
has_base() { [[ -n $(base_expires "$1") ]]; }

# The conntrack's own timeout, in ms, for the flow from port $1.
ct_timeout_ms() {
	N conntrack -L -p udp --sport "$1" 2>/dev/null |
		awk '{ print $3 * 1000; exit }'
}

# Control: ordinary parameters give the conntrack timeout + interval + grace.
echo 1000 >$PARAMS/update_interval_ms
echo 5000 >$PARAMS/grace_ms
udp_flow 40000
if wait_until 120 has_base 40000; then
	exp=$(base_expires 40000)
	ct=$(ct_timeout_ms 40000)
	info "control: record expires in $exp ms, conntrack in $ct ms"
	check "record lifetime with small parameters is timeout + grace + interval" \
		test "$exp" -le $((ct + 6000 + 2000)) -a "$exp" -ge $((ct + 3000))
else
	fail "record lifetime with small parameters is timeout + grace + interval"
fi

# u32 sum would wrap to 999 ms.
echo 1000 >$PARAMS/update_interval_ms
echo 4294967295 >$PARAMS/grace_ms
udp_flow 40100
if wait_until 120 has_base 40100; then
	exp=$(base_expires 40100)
	ct=$(ct_timeout_ms 40100)
	info "grace_ms=2^32-1: record expires in $exp ms, conntrack in $ct ms"
	check "interval_ms + grace_ms does not wrap in u32" \
		test "$exp" -gt $((ct + 86400000))
else
	fail "interval_ms + grace_ms does not wrap in u32"
fi

# update_interval_ms alone at its maximum must not schedule a refresh in
# the past (which would rewrite every layer at every packet): the flow's
# record age keeps growing.
echo 4294967295 >$PARAMS/update_interval_ms
echo 1000 >$PARAMS/grace_ms
udp_flow 40200
age() {
	local id
	id=$(N "$CKPTCTL" list --json | jq -r '.[] | select(.sport == 40200) | .id' | head -n1)
	[[ -n $id ]] && N "$CKPTCTL" show --json "$id" | jq -r '.records.base.age_ms // empty'
}
aged() { local a; a=$(age); [[ -n $a ]] && ((a >= 3000)); }
check "update_interval_ms=2^32-1 does not refresh the record at every packet" \
	wait_until 120 aged

# A conntrack timeout beyond 2^32 ms (49.7 days at HZ=250) is recorded
# as it is: jiffies_to_msecs() returns an unsigned int and used to wrap
# it.  udp_timeout_stream caps at INT_MAX / HZ s; 8000000 s is below.
echo 1000 >$PARAMS/update_interval_ms
echo 5000 >$PARAMS/grace_ms
N sysctl -qw net.netfilter.nf_conntrack_udp_timeout_stream=8000000
udp_flow 40300
rec_timeout() {
	N "$CKPTCTL" list --json | jq -r '.[] | select(.sport == 40300) | .timeout' | head -n1
}
long_timeout() { local t; t=$(rec_timeout); [[ -n $t ]] && ((t > 7000000)); }
if wait_until 120 long_timeout; then
	ok "a conntrack timeout of 8000000 s is recorded without wrapping"
else
	info "conntrack: $(N conntrack -L -p udp --sport 40300 2>/dev/null); record timeout $(rec_timeout) s"
	fail "a conntrack timeout of 8000000 s is recorded without wrapping"
fi

ktap_finished
