#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nf_ckpt_ct (issue #4), helpers and expectations: active-mode FTP through
# a stateful router with the ftp conntrack helper.  The control connection
# has a HELPER record with the helper's private data; the data connection
# the client asked for (PORT) is recorded as a pending expectation of the
# control connection, then the data connection itself with its master's ID
# once the server opens it, and the consumed expectation leaves the
# records.  Again through SNAT to an address of another length: the
# expectation carries nat-follow-master and the client's port (nf_nat_ftp
# saves only the port: the address comes from the master), the control
# connection a SEQADJ layer, the data connection its DNAT mapping.
#
# Server: pyftpdlib (Debian python3-pyftpdlib); client: Python's ftplib,
# driven step by step so that the checks see each stage.
set -e
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# $client, $router, $server: set by topo_client_router_server.
# shellcheck disable=SC2154

require_modules_built
require_cmd nft conntrack jq
[[ -x $CKPTCTL ]] || ktap_skip_all "ckptctl not built: make tools"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
"$PY" -c 'import pyftpdlib' 2>/dev/null || ktap_skip_all "python3-pyftpdlib not installed"
modprobe -q nf_conntrack_ftp 2>/dev/null || ktap_skip_all "no nf_conntrack_ftp"
modprobe -q nf_nat_ftp 2>/dev/null || ktap_skip_all "no nf_nat_ftp"

ktap_plan 14

tmp=$(mktemp -d)
at_exit "rm -rf $tmp"

load_ct update_interval_ms=200 grace_ms=1000
topo_client_router_server
ip -n "$router" addr add 10.0.2.100/24 dev veth1

R nft -f - <<'NFT'
table inet filter {
	ct helper ftp-standard {
		type "ftp" protocol tcp
	}
	chain pre {
		type filter hook prerouting priority filter;
		tcp dport 21 ct helper set "ftp-standard"
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "veth0" ct state new accept
	}
}
NFT

mkdir -p "$tmp/root"
# Bigger than both ends' socket buffers: the client reads the first
# 200000 bytes and stops, so the server cannot finish and close the data
# connection while the checks look at it.  (Closed, it may be TIME_WAIT at
# once, its records forgotten: conntrack takes a retransmitted FIN of the
# same side for the peer's, FIN_WAIT -> LAST_ACK, and the next ACK ends it.)
head -c $((8 << 20)) /dev/urandom >"$tmp/root/file.bin"
# pyftpdlib as its command line would run it, but with the active-mode
# connect timeout (30 s) raised: the data connection's SYNs are held while
# the checks run, which takes longer than that on a loaded TCG host.
cat >"$tmp/server.py" <<'EOF'
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import ActiveDTP, FTPHandler
from pyftpdlib.servers import FTPServer

ActiveDTP.timeout = 300
auth = DummyAuthorizer()
auth.add_anonymous(sys.argv[2])
FTPHandler.authorizer = auth
FTPServer((sys.argv[1], 21), FTPHandler).serve_forever()
EOF
S setsid "$PY" -u "$tmp/server.py" 10.0.2.2 "$tmp/root" \
	</dev/null >"$tmp/ftpd.log" 2>&1 &
ftpd_listening() {
	S ss -Hlnt "sport = :21" | grep -q .
}
wait_until 60 ftpd_listening || die "pyftpdlib did not start"

# The client: one step per line read on stdin, reports on stdout.
cat >"$tmp/client.py" <<'EOF'
import ftplib, sys

def step(want):
    line = sys.stdin.readline().strip()
    if line != want:
        sys.exit("client: expected %r, got %r" % (want, line))

f = ftplib.FTP()
f.connect(sys.argv[1], 21, timeout=300, source_address=("", int(sys.argv[2])))
f.login()
f.voidcmd("TYPE I")
f.set_pasv(False)
sock = f.makeport()                     # PORT, 200 received
print("PORT", sock.getsockname()[1], flush=True)
step("retr")
f.sendcmd("RETR file.bin")              # 150: the server connects now
conn, peer = sock.accept()
data = b""
while len(data) < 200000:
    chunk = conn.recv(65536)
    if not chunk:
        break
    data += chunk
print("DATA", peer[0], peer[1], len(data), flush=True)
step("close")                           # the data connection stays open
while conn.recv(1 << 20):               # the rest, then a clean close
    pass
conn.close()
f.voidresp()
print("DONE", flush=True)
step("quit")
f.quit()
EOF

id_by_sport() {
	ckpt list --json | jq -e --argjson sp "$1" \
		'[.[] | select(.sport == $sp) | .id] | if length == 1 then .[0] else null end'
}

has_sport() {
	id_by_sport "$1" >/dev/null
}

show() {
	ckpt show "$1" --json
}

# pyftpdlib connects to the client as soon as it gets PORT: hold the data
# connection's SYNs before conntrack sees them, so that the expectation
# stays pending until release_data.
hold_data() {
	R nft -f - <<'NFT'
table inet hold {
	chain pre {
		type filter hook prerouting priority raw;
		iifname "veth1" tcp flags & (syn | ack) == syn drop
	}
}
NFT
}

release_data() {
	R nft delete table inet hold
}

# One FTP session: $1 source port of the control connection, $2 NAT or "".
ftp_session() {
	local sport=$1 nat=$2 line port ctl_id data_id dport
	local sfx=${nat:+ (SNAT)}

	hold_data
	coproc FTPC { C "$PY" -u "$tmp/client.py" 10.0.2.2 "$sport" 2>&1; }
	wait_until 40 has_sport "$sport" || die "no record of the control connection"
	ctl_id=$(id_by_sport "$sport" || echo 0)
	exp_pending() {
		R conntrack -L expect 2>/dev/null | grep -q 'proto=6'
	}
	wait_until 40 exp_pending || ktap_info "no expectation in conntrack -L expect"

	# --- after PORT: helper data and the pending expectation
	helper_ok() {
		show "$ctl_id" | jq -e '.helper == "ftp" and
			(.helper_data.data | test("[1-9a-f]")) and
			(.layers | index("helper") != null)' >/dev/null
	}
	check "control connection: HELPER record, ftp with private data$sfx" \
		wait_until 30 helper_ok

	# The expectation as conntrack -L expect shows it, with what nf_nat_ftp
	# made of the port.
	R conntrack -L expect >"$tmp/expect.txt" 2>&1 || true
	ktap_info "conntrack -L expect: $(cat "$tmp/expect.txt")"
	dport=$(sed -n 's/.*proto=6 src=[^ ]* dst=[^ ]* sport=[0-9]* dport=\([0-9]*\) .*/\1/p' \
		"$tmp/expect.txt" | head -n1)
	expect_ok() {
		show "$ctl_id" | jq -e --arg dst "${nat:-10.0.1.2}" --argjson dp "${dport:-0}" '
			(.expect | length) == 1 and .expectations == 1 and
			.expect[0].tuple.src == "10.0.2.2" and
			.expect[0].tuple.dst == $dst and .expect[0].tuple.dport == $dp and
			.expect[0].mask.sport == 0 and .expect[0].mask.dport == 65535 and
			.expect[0].helper == "ftp" and .expect[0].class == 0 and
			.expect[0].timeout_ms > 0 and .expect[0].timeout_ms <= 300000' >/dev/null
	}
	check "the pending expectation is recorded as conntrack shows it$sfx" \
		wait_until 30 expect_ok

	if [[ -n $nat ]]; then
		nat_expect_ok() {
			show "$ctl_id" | jq -e '.expect[0].fn == "nat-follow-master"' >/dev/null &&
				ckpt show "$ctl_id" >"$tmp/pending.txt" &&
				grep -qE 'saved=[^ ]+:[0-9]+$' "$tmp/pending.txt"
		}
		if wait_until 30 nat_expect_ok; then
			ok "SNAT: the expectation has nat-follow-master and a saved port"
		else
			fail "SNAT: the expectation has nat-follow-master and a saved port"
			ckpt show "$ctl_id" | sed 's/^/#   /'
			show "$ctl_id" | sed 's/^/#   /'
		fi
		seqadj_ok() {
			show "$ctl_id" | jq -e '(.layers | index("seqadj") != null) and
				.seqadj.orig.offset_after != 0' >/dev/null
		}
		check "SNAT: the PORT rewrite left a SEQADJ layer" wait_until 30 seqadj_ok
	fi

	# --- the server opens the data connection
	release_data
	read -r -t 30 -u "${FTPC[0]}" line || line=
	[[ $line == PORT* ]] || die "client: $line"
	port=${line#PORT }
	ktap_info "control connection from port $sport, PORT $port"
	echo retr >&"${FTPC[1]}"
	read -r -t 30 -u "${FTPC[0]}" line || line=
	ktap_info "client: $line"
	data_id_of() {
		ckpt list --json | jq -e --argjson m "$ctl_id" \
			'[.[] | select(.master_id == $m) | .id] | if length == 1 then .[0] else null end'
	}
	if ! wait_until 30 data_id_of >/dev/null; then
		# Say why: no record names the master, or several do.
		ktap_info "no single record with master_id $ctl_id; records and conntrack -L:"
		ckpt list --json | jq -c '.[] | {id, sport, dport, master_id, status, layers}' |
			sed 's/^/#   /'
		R conntrack -L 2>/dev/null | sed 's/^/#   /'
	fi
	data_id=$(data_id_of) || data_id=0
	data_ok() {
		ckpt list --json | jq -e --argjson id "$data_id" --arg dst "${nat:-10.0.1.2}" \
			--argjson dp "${dport:-0}" '.[] | select(.id == $id) |
			.src == "10.0.2.2" and .dst == $dst and .dport == $dp and
			(.status | index("EXPECTED") != null)' >/dev/null
	}
	check "data connection recorded with its master's ID ($data_id, master $ctl_id)$sfx" \
		data_ok
	if [[ -n $nat ]]; then
		check "SNAT: the expectation saved the port of the client's PORT" \
			grep -qE "saved=[^ ]+:$port\$" "$tmp/pending.txt"
		check "SNAT: the data connection's DNAT to the client is recorded" \
			test "$(ckpt list --json | jq -r --argjson id "$data_id" \
				'.[] | select(.id == $id) | "\(.nat.dst.addr):\(.nat.dst.port)"')" = \
			"10.0.1.2:$port"
	fi
	consumed() {
		show "$ctl_id" | jq -e '(.expect | length) == 0 and
			(.layers | index("expect") == null)' >/dev/null
	}
	check "the consumed expectation left the control connection's records$sfx" \
		wait_until 30 consumed

	# --- closing
	echo close >&"${FTPC[1]}"
	read -r -t 30 -u "${FTPC[0]}" line || line=
	data_gone() {
		! ckpt list --json | jq -e --argjson id "$data_id" 'any(.[]; .id == $id)' >/dev/null
	}
	check "data connection closed: its records are forgotten$sfx" \
		wait_until 30 data_gone
	echo quit >&"${FTPC[1]}"
	wait "$FTPC_PID" 2>/dev/null || true
}

ftp_session 4021 ""

R nft -f - <<'NFT'
table ip nat {
	chain pre {
		type nat hook prerouting priority dstnat;
	}
	chain post {
		type nat hook postrouting priority srcnat;
		oifname "veth1" tcp dport 21 snat to 10.0.2.100
	}
}
NFT
ftp_session 4022 10.0.2.100

ktap_finished
