#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The store's slots (issue #14 item 1): one fixed-size object per
# connection ID holds BASE and L4 packed.  Real conntracks (TCP over IPv4
# with masquerade, TCP over IPv6) are checkpointed into slots: the
# store charges a TCP/IPv4 connection a fraction of what records cost.
# Packing is exact: a save, a flush and a load give back the same bytes,
# packed again; payloads the packed form cannot hold (a generated save
# file without ZONE_DIR) stay records, also byte for byte; and a save
# file written by the store before slots (selftests/data/) loads, packs,
# and saves back unchanged.
#
#   nf_ckpt_slot.sh --fixture FILE   only make traffic and save it to FILE
#                                    (how selftests/data/ was made, with
#                                    the modules of the commit before slots)
set -e
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# $client, $router, $server: set by topo_client_router_server.
# shellcheck disable=SC2154

fixture=
[[ ${1:-} == --fixture ]] && fixture=$2

require_modules_built
require_cmd nft conntrack socat ping jq ss
[[ -x $CKPTCTL ]] || ktap_skip_all "ckptctl not built: make tools"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
HERE=$(cd "$(dirname "$0")" && pwd)
OLD_SAVE=$HERE/data/nfckpt-before-slots.ckpt

[[ $fixture ]] || ktap_plan 10

tmp=$(mktemp -d)
at_exit "rm -rf $tmp"

records() { "$PY" "$HERE/nf_ckpt.py" records "$1"; }

established() { # how many TCP records are ESTABLISHED
	(($(ckpt list --json | jq '[.[] | select(.proto == "tcp" and .state == "ESTABLISHED")] | length') >= $1))
}

# Average bytes the store charges per record of a layer.
per_record() { # layer
	ckpt status --json | jq --arg l "$1" \
		'.layers[$l] | if .records > 0 then (.bytes / .records | floor) else -1 end'
}

topo_client_router_server
R nft -f - <<'EOF'
table inet filter {
	chain forward {
		type filter hook forward priority filter;
		ct state established,related accept
	}
}
table ip nat {
	chain post {
		type nat hook postrouting priority srcnat;
		oifname "veth1" masquerade
	}
}
EOF
load_ct update_interval_ms=200

ip netns exec "$server" setsid socat TCP4-LISTEN:5001,fork,reuseaddr EXEC:cat \
	</dev/null >/dev/null 2>&1 &
at_exit "kill $! 2>/dev/null || true"
ip netns exec "$server" setsid socat TCP6-LISTEN:5002,ipv6only=1,fork,reuseaddr EXEC:cat \
	</dev/null >/dev/null 2>&1 &
at_exit "kill $! 2>/dev/null || true"
wait_until 60 listening "$server" tcp 5001
wait_until 60 listening "$server" tcp 5002
# Connections held open, idle once their first bytes are echoed.
ip netns exec "$client" setsid sh -c '(echo v4; sleep 900) | socat - TCP4:10.0.2.2:5001' \
	</dev/null >/dev/null 2>&1 &
at_exit "kill $! 2>/dev/null || true"
ip netns exec "$client" setsid sh -c '(echo v6; sleep 900) | socat - TCP6:[fd00:2::2]:5002' \
	</dev/null >/dev/null 2>&1 &
at_exit "kill $! 2>/dev/null || true"
wait_until 120 established 2 || true

if [[ $fixture ]]; then
	ckpt save "$fixture"
	echo "saved $(records "$fixture" | wc -l) records to $fixture"
	exit 0
fi

ckpt status --json >"$tmp/st1"
ktap_info "live: base $(per_record base) B/record, l4 $(per_record l4) B/record; $(jq -c '{connections, records, bytes}' "$tmp/st1")"
check "TCP over IPv4 and IPv6 are checkpointed ESTABLISHED" established 2
# Records: a 32-byte header plus ~170 bytes of BASE attributes (kmalloc-256),
# ~180 of TCP attributes (kmalloc-256).  A slot: its L4 fields, the rest
# of one object for BASE.
check "BASE is packed: at most 128 bytes per record (records: 256)" \
	test "$(per_record base)" -le 128 -a "$(per_record base)" -gt 0
check "L4 is packed: at most 64 bytes per record (records: 256)" \
	test "$(per_record l4)" -le 64 -a "$(per_record l4)" -gt 0

# Nothing rewrites the records from here on: the store alone.
rmmod nf_ckpt_ct
ckpt save "$tmp/a.ckpt"
ckpt flush
ckpt load "$tmp/a.ckpt" >/dev/null
ckpt save "$tmp/b.ckpt"
records "$tmp/a.ckpt" >"$tmp/a.rec"
records "$tmp/b.ckpt" >"$tmp/b.rec"
ktap_info "round trip: $(wc -l <"$tmp/a.rec") records"
check "save, flush, load, save: the same records byte for byte" \
	cmp -s "$tmp/a.rec" "$tmp/b.rec"
check "loaded records are packed again" \
	test "$(per_record base)" -le 128 -a "$(per_record l4)" -le 64

# A payload the packed form does not write back (no ZONE_DIR, no LABELS:
# nf_ckpt.py gen) is kept as it came.
ckpt flush
"$PY" "$HERE/nf_ckpt.py" gen "$tmp/g.ckpt" 20 --expires-ms 600000
ckpt load "$tmp/g.ckpt" >/dev/null
ckpt save "$tmp/g2.ckpt"
ktap_info "generated: base $(per_record base) B/record, l4 $(per_record l4) B/record"
check "records the slot cannot hold stay records (more than 128 bytes each)" \
	test "$(per_record base)" -gt 128
check "and come back byte for byte" \
	cmp -s <(records "$tmp/g.ckpt") <(records "$tmp/g2.ckpt")

# A save file of the store before slots.
ckpt flush
ckpt load "$OLD_SAVE" >/dev/null
ckpt save "$tmp/o2.ckpt"
ktap_info "before slots: $(records "$OLD_SAVE" | wc -l) records; base $(per_record base) B/record, l4 $(per_record l4) B/record"
records "$OLD_SAVE" >"$tmp/o.rec"
records "$tmp/o2.ckpt" >"$tmp/o2.rec"
check "a save file from before slots saves back the same records" \
	cmp -s "$tmp/o.rec" "$tmp/o2.rec"
check "and its BASE and L4 records are packed" \
	test "$(per_record base)" -le 128 -a "$(per_record l4)" -le 64
ktap_finished
