#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nf_ckpt_ct (issue #14 item 3): a conntrack is checkpointed only once it
# is worth restoring.  A router between client and server; the client
# sends spoofed SYNs (random source addresses and ports, a raw socket)
# that the server drops unanswered, so the router's conntrack holds them
# in SYN_SENT.  With the default parameters the store grows by zero
# connections and records, and nf_ckpt_ct hands out no ID (highest_id
# unchanged: every per-flow entry and fallback entry of nf_ckpt_ct is
# keyed by an ID it allocated first, so no ID means no entry either).  A
# real connection is then checkpointed (BASE and L4, TCP ESTABLISHED).
# The control: with checkpoint_handshake=1 the same flood does grow the
# store, an ID per SYN.  Last, the record puts of one short connection
# (connect, one message, close) in both modes.
set -e
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck disable=SC2154

require_modules_built
require_cmd nft conntrack jq socat
[[ -x $CKPTCTL ]] || ktap_skip_all "ckptctl not built: make tools"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3

# How many spoofed SYNs per flood.
FLOOD=${FLOOD:-3000}
# Record writes (store puts + updates) of one short connection with the default parameters: BASE
# and L4 at ESTABLISHED, then at FIN_WAIT, CLOSE_WAIT and LAST_ACK (the
# TIME_WAIT forgets): 8.  Before, the SYN, SYN_RECV and the handshake
# ACK's states wrote them too.
SHORT_PUTS_MAX=8

ktap_plan 10

tmp=$(mktemp -d)
at_exit "rm -rf $tmp"

# A module from before the parameter checkpoints handshakes anyway.
param() {
	local f=/sys/module/nf_ckpt_ct/parameters/$1
	if [[ -e $f ]]; then echo "$2" >"$f"; else info "no parameter $1"; fi
}

# A long update interval: no rate-limited refresh in the counts.
load_ct update_interval_ms=600000
topo_client_router_server
R sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.veth0.rp_filter=0
R sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0
# Room for both floods whatever the VM's memory made the default.
R sysctl -qw net.netfilter.nf_conntrack_max=262144 2>/dev/null || true

# A stateful router: conntrack runs in its netns.
R nft -f - <<'NFT'
table inet filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "veth0" ct state new accept
	}
}
NFT

# The server drops the flood's SYNs (no SYN-ACK, no RST: SYN_SENT stays).
S nft -f - <<'NFT'
table inet t {
	chain input {
		type filter hook input priority filter;
		tcp dport 7000-7999 drop
	}
}
NFT

cat >"$tmp/flood.py" <<'EOF'
import random, socket, struct, sys

def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff

dst, dport, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
d = socket.inet_aton(dst)
sk = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
seen = set()
while len(seen) < n:
    # 198.18.0.0/15: the benchmarking range, nobody's.
    src = struct.pack('!I', 0xc6120000 | random.getrandbits(17))
    sport = random.randint(1024, 65535)
    if (src, sport) in seen:
        continue
    seen.add((src, sport))
    tcp = struct.pack('!HHIIBBHHH', sport, dport, random.getrandbits(32), 0,
                      5 << 4, 0x02, 64240, 0, 0)
    c = csum(src + d + struct.pack('!BBH', 0, socket.IPPROTO_TCP, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack('!H', c) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), random.getrandbits(16),
                     0, 64, socket.IPPROTO_TCP, 0, src, d)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    sk.sendto(ip + tcp, (dst, 0))
EOF

stat() { # field
	ckpt status --json | jq -r ".$1"
}
syn_sent() { # dport
	R conntrack -L -p tcp --dport "$1" --state SYN_SENT 2>/dev/null | wc -l
}
syn_sent_at_least() { # dport count
	(($(syn_sent "$1") >= $2))
}

flood() { # dport
	C "$PY" "$tmp/flood.py" 10.0.2.2 "$1" "$FLOOD"
	wait_until 120 syn_sent_at_least "$1" "$FLOOD"
}

conns0=$(stat connections)
recs0=$(stat records)
id0=$(stat highest_id)
if flood 7001; then
	ok "flood of $FLOOD spoofed SYNs: $(syn_sent 7001) SYN_SENT conntracks on the router"
else
	fail "flood of $FLOOD spoofed SYNs: only $(syn_sent 7001) SYN_SENT conntracks on the router"
fi
conns1=$(stat connections)
recs1=$(stat records)
id1=$(stat highest_id)
info "store: connections $conns0 -> $conns1, records $recs0 -> $recs1, highest_id $id0 -> $id1"
check "the flood grew the store by zero connections" test "$conns1" = "$conns0"
check "the flood grew the store by zero records" test "$recs1" = "$recs0"
check "the flood took no ID (no per-flow or fallback entry in nf_ckpt_ct)" test "$id1" = "$id0"

# A real connection, kept open.
S setsid socat TCP4-LISTEN:5001,reuseaddr,fork EXEC:cat </dev/null >/dev/null 2>&1 &
_pids+=($!)
at_exit kill_all
listening() { S ss -Hlnt 'sport = :5001' | grep -q .; }
wait_until 30 listening
C setsid sh -c '(echo hello; sleep 600) | socat - TCP4:10.0.2.2:5001' </dev/null >/dev/null 2>&1 &
_pids+=($!)
long_id() {
	ckpt list --json | jq -e '[.[] | select(.proto == "tcp" and .dport == 5001) | .id] |
		if length == 1 then .[0] else null end'
}
established() {
	local id
	id=$(long_id) || return 1
	ckpt show "$id" --json >"$tmp/show.json" || return 1
	jq -e '.state == "ESTABLISHED"' "$tmp/show.json" >/dev/null
}
check "a real connection is checkpointed, TCP ESTABLISHED" wait_until 60 established
check "its BASE and L4 records are there" \
	jq -e '(.layers | index("base") != null) and (.layers | index("l4") != null) and
		.records.base != null and .tcp.orig != null' "$tmp/show.json" >/dev/null

# One short connection: record writes from its SYN to its TIME_WAIT.  The
# store counts the first put of a layer in puts, a put over a live record
# in updates: each is an encode, a validation and an allocation.
writes() { ckpt status --json | jq -r '"\(.puts) \(.updates)"'; }
short_puts() { # puts+updates of one short connection (puts, updates on fd 3)
	local p0 u0 p1 u1
	read -r p0 u0 < <(writes)
	C sh -c 'echo x | socat -t 2 - TCP4:10.0.2.2:5001' >/dev/null
	tw() {
		R conntrack -L -p tcp --dport 5001 --state TIME_WAIT 2>/dev/null | grep -q .
	}
	wait_until 60 tw || return 1
	read -r p1 u1 < <(writes)
	info "  puts $((p1 - p0)), updates $((u1 - u0))" >&2
	echo $((p1 - p0 + u1 - u0))
}
puts_default=$(short_puts) || puts_default=-1
info "record writes (puts + updates) of one short connection, default: $puts_default"
check "short connection, default: 0 < record writes <= $SHORT_PUTS_MAX ($puts_default)" \
	test "$puts_default" -gt 0 -a "$puts_default" -le "$SHORT_PUTS_MAX"

# The control: checkpoint_handshake=1, as before.
param checkpoint_handshake 1
R conntrack -D -p tcp --dport 5001 --state TIME_WAIT >/dev/null 2>&1 || true
puts_hs=$(short_puts) || puts_hs=-1
info "record writes (puts + updates) of one short connection, checkpoint_handshake=1: $puts_hs"
check "short connection: fewer record writes by default ($puts_default) than with checkpoint_handshake=1 ($puts_hs)" \
	test "$puts_default" -lt "$puts_hs"

conns2=$(stat connections)
id2=$(stat highest_id)
flood 7002 || true
conns3=$(stat connections)
id3=$(stat highest_id)
info "checkpoint_handshake=1 flood: connections $conns2 -> $conns3, highest_id $id2 -> $id3"
check "checkpoint_handshake=1: the flood grows the store (a connection per SYN)" \
	test $((conns3 - conns2)) -ge "$FLOOD"
check "checkpoint_handshake=1: an ID per SYN" test $((id3 - id2)) -ge "$FLOOD"
param checkpoint_handshake 0

ktap_finished
