#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Restore (issue #5, case 5): active-mode FTP through a strict stateful
# router with the ftp conntrack helper survives a crash of the firewall
# state.
#
# Router: forward policy drop; ct state established,related accept; new TCP
# only from the client side and only on a bare SYN; counted (and logged)
# drops last; nf_conntrack_tcp_loose=0, so a segment of a connection that
# has no conntrack is INVALID and dropped.  The ftp helper is attached with
# an nft ct helper object.
#
# Why helper data matters: nf_conntrack_ftp parses a PORT command only if
# it starts right after a newline the helper has seen in that direction
# (nf_ct_ftp_master.seq_aft_nl[dir]).  A conntrack re-created without that
# private data (conntrackd replays only the helper's name) ignores the
# first PORT after the crash: no expectation, and the server's SYN to the
# client is a NEW connection from the server side, dropped.  nfckpt
# restores the private data, so the helper parses the very next PORT.
#
# Cases:
#   a. a transfer, a crash between two transfers, then PORT + RETR on the
#      same control connection: crash = conntrack -F + ckptctl restore, and
#      (another control connection) crash = rmmod nf_ckpt_ct; conntrack -F;
#      insmod nf_ckpt_ct (restore on load);
#   b. then, on the first one: PORT, crash (conntrack -F + ckptctl restore)
#      while the expectation is pending, then the data connection and
#      RETR: the restored expectation is used;
#   c. a and b through SNAT to an address of another length (nf_nat_ftp
#      rewrites PORT, the control connection gets a seqadj offset): the
#      NAT binding, the rewrite and the sequence adjustment carry on;
#   d. controls, with restore off (rmmod; conntrack -F; insmod restore=0)
#      and without nfckpt (no modules; conntrack -F): client A has done a
#      transfer, client B's PORT is pending; one crash; A's next PORT and
#      B's data connection must both fail, and what failed is reported.
#      A's control connection itself dies (its next segment is INVALID
#      under loose=0); B's server SYN finds no expectation and is dropped.
# The data connections after a crash must come in as RELATED (an nft
# counter on `ct state related`, the IPS_EXPECTED status in conntrack -L,
# the store's master ID), with no drop at all: the helper, not a lax rule,
# let them through.
#
# pyftpdlib opens the data connection as soon as it gets PORT and answers
# 200 only once connected.  So that an expectation stays pending across a
# crash (b), the router drops the server's SYNs in a raw prerouting chain
# (before conntrack: neither tracked nor counted) until release_data; the
# server's next SYN retransmission (1, 3, 7, 15 s after PORT on 6.1; the
# first ones 1 s apart on 6.12, tcp_syn_linear_timeouts) then meets the
# restored expectation.
set -e
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# $client, $router, $server: set by topo_client_router_server.
# shellcheck disable=SC2154

require_modules_built
require_cmd nft conntrack jq ss sha256sum mkfifo dmesg
[[ -x $CKPTCTL ]] || ktap_skip_all "ckptctl not built: make tools"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
"$PY" -c 'import pyftpdlib' 2>/dev/null || ktap_skip_all "python3-pyftpdlib not installed"
modprobe -q nf_conntrack_ftp 2>/dev/null || ktap_skip_all "no nf_conntrack_ftp"
modprobe -q nf_nat_ftp 2>/dev/null || ktap_skip_all "no nf_nat_ftp"

CT_ARGS=(update_interval_ms=200 grace_ms=1000)
SNAT_ADDR=10.0.2.100
FILE_SIZE=300000
LOG_PREFIX="nf_ckpt_restore_ftp drop: "

# Results: a+b 14, a (reload) 6, c 15, d 4 + 4.
ktap_plan 43

tmp=$(mktemp -d)
at_exit "rm -rf $tmp"

# Start from our own, fresh modules.
rmmod nf_ckpt_ct 2>/dev/null || true
rmmod nf_ckpt_store 2>/dev/null || true
! mod_loaded nf_ckpt_store || die "cannot unload nf_ckpt_store"

topo_client_router_server
ip -n "$router" addr add "$SNAT_ADDR/24" dev veth1
R sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0

# The server first: python takes its time under TCG.
mkdir -p "$tmp/root"
head -c "$FILE_SIZE" /dev/urandom >"$tmp/root/file.bin"
file_sha=$(sha256sum <"$tmp/root/file.bin")
file_sha=${file_sha%% *}

cat >"$tmp/server.py" <<'EOF'
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

auth = DummyAuthorizer()
auth.add_anonymous(sys.argv[2])
FTPHandler.authorizer = auth
FTPServer((sys.argv[1], 21), FTPHandler).serve_forever()
EOF

# Started directly (no shell function, no setsid): $! is the python process.
ip netns exec "$server" "$PY" -u "$tmp/server.py" 10.0.2.2 "$tmp/root" \
	</dev/null >"$tmp/ftpd.log" 2>&1 &
srv_pid=$!
at_exit "kill $srv_pid; wait $srv_pid"
ftpd_listening() {
	ip netns exec "$server" ss -Hlnt "sport = :21" | grep -q .
}

# The drop rule logs (at debug level: dmesg, not the console), so that a
# drop can be shown; nft log is silent outside init_net unless this is on.
log_all=$(sysctl -n net.netfilter.nf_log_all_netns 2>/dev/null || echo)
if [[ -n $log_all ]]; then
	sysctl -qw net.netfilter.nf_log_all_netns=1
	at_exit "sysctl -qw net.netfilter.nf_log_all_netns=$log_all"
fi

R nft -f - <<NFT
table inet filter {
	ct helper ftp-standard {
		type "ftp" protocol tcp
	}
	counter related_in {
	}
	counter dropped_syn {
	}
	counter dropped {
	}
	counter untranslated {
	}
	chain pre {
		type filter hook prerouting priority filter;
		tcp dport 21 ct helper set "ftp-standard"
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state related counter name "related_in" accept
		ct state established accept
		iifname "veth0" ct state new tcp flags & (fin | syn | rst | ack) == syn accept
		iifname "veth1" ct state new tcp flags & (fin | syn | rst | ack) == syn counter name "dropped_syn" log prefix "$LOG_PREFIX" level debug drop
		counter name "dropped" log prefix "$LOG_PREFIX" level debug drop
	}
	chain post {
		type filter hook postrouting priority srcnat + 1;
		oifname "veth1" ip saddr 10.0.1.2 tcp dport 21 counter name "untranslated"
	}
}
NFT

wait_until 30 ftpd_listening || die "pyftpdlib did not start"

# The client: one command per line on stdin, one answer line on stdout.
#   port        listen, send PORT (no wait)     PORT <port>
#   reply T     wait T s for a reply            REPLY <reply> | REPLY TIMEOUT | ...
#   retr T      RETR, accept, read to EOF       DATA <peer> <port> <len> <sha256>
#               (the data connection stays open)
#   close T     close it, wait for 226          REPLY <reply>
#   noop T      NOOP                            REPLY <reply>
#   quit T                                      BYE
cat >"$tmp/client.py" <<'EOF'
import ftplib, hashlib, os, socket, sys

def out(*a):
    print(*a, flush=True)

out("PID", os.getpid())
f = ftplib.FTP()
try:
    f.connect(sys.argv[1], 21, timeout=30, source_address=("", int(sys.argv[2])))
    f.login()
    f.voidcmd("TYPE I")
except Exception as e:
    out("ERROR", repr(e))
    sys.exit(1)
out("READY")

def resp(t):
    f.sock.settimeout(t)
    try:
        return f.getresp()
    except socket.timeout:
        return "TIMEOUT"
    except ftplib.Error as e:
        return str(e)
    except (OSError, EOFError) as e:
        return "ERROR " + repr(e)

lsock = conn = None
for line in sys.stdin:
    w = line.split()
    if not w:
        continue
    cmd, t = w[0], float(w[1]) if len(w) > 1 else 30.0
    if cmd == "port":
        lsock = socket.create_server(("", 0))
        host = f.sock.getsockname()[0]
        port = lsock.getsockname()[1]
        f.putcmd("PORT %s,%d,%d" % (host.replace(".", ","), port >> 8, port & 255))
        out("PORT", port)
    elif cmd == "reply":
        out("REPLY", resp(t))
    elif cmd == "retr":
        f.putcmd("RETR file.bin")
        r = resp(t)
        if not r.startswith("1"):
            out("REPLY", r)
            continue
        try:
            lsock.settimeout(t)
            conn, peer = lsock.accept()
            conn.settimeout(t)
            h, n = hashlib.sha256(), 0
            while True:
                b = conn.recv(65536)
                if not b:
                    break
                h.update(b)
                n += len(b)
            out("DATA", peer[0], peer[1], n, h.hexdigest())
        except OSError as e:
            out("ERROR", repr(e))
    elif cmd == "close":
        for s in (conn, lsock):
            if s:
                s.close()
        conn = lsock = None
        out("REPLY", resp(t))
    elif cmd == "noop":
        f.putcmd("NOOP")
        out("REPLY", resp(t))
    elif cmd == "quit":
        try:
            f.sock.settimeout(t)
            f.quit()
        except Exception:
            pass
        out("BYE")
        break
EOF

# ------------------------------------------------------------- helpers

# Clients, by slot (A, B): python pid and the fds of its stdin and stdout.
declare -A CL_PID CL_W CL_R

# cl_start SLOT SPORT: a client, connected and logged in.
cl_start() {
	local s=$1 line w r
	rm -f "$tmp/cin.$s" "$tmp/cout.$s"
	mkfifo "$tmp/cin.$s" "$tmp/cout.$s"
	# Not through a shell function: $! must be the python process.
	ip netns exec "$client" "$PY" -u "$tmp/client.py" 10.0.2.2 "$2" \
		<"$tmp/cin.$s" >"$tmp/cout.$s" 2>>"$tmp/client.err" &
	CL_PID[$s]=$!
	at_exit "kill ${CL_PID[$s]}"
	exec {w}<>"$tmp/cin.$s" {r}<>"$tmp/cout.$s"
	CL_W[$s]=$w
	CL_R[$s]=$r
	read -r -t 30 -u "$r" line || line=
	[[ $line == "PID ${CL_PID[$s]}" ]] || ktap_info "client $s: '$line' (pid ${CL_PID[$s]})"
	read -r -t 60 -u "$r" line || line=
	[[ $line == READY ]] || { ktap_info "client $s: '$line'"; return 1; }
}

# cl SLOT CMD [T]: one client command; its answer in $reply.
cl() {
	local s=$1 t=${3:-30}
	reply=
	[[ -n ${CL_W[$s]:-} ]] || { reply="NOCLIENT"; return 0; }
	echo "$2 $t" >&"${CL_W[$s]}"
	read -r -t $((${t%.*} + 20)) -u "${CL_R[$s]}" reply || reply="NOANSWER"
}

cl_stop_all() {
	local s w r
	for s in "${!CL_PID[@]}"; do
		kill "${CL_PID[$s]}" 2>/dev/null || true
		wait "${CL_PID[$s]}" 2>/dev/null || true
		w=${CL_W[$s]}
		r=${CL_R[$s]}
		exec {w}>&- {r}<&-
	done
	CL_PID=()
	CL_W=()
	CL_R=()
}

# The nft counters, in one go: $c_related (ct state related accepted),
# $c_dropped (the last rule), $c_syn (new from the server side), $c_unnat
# (control segments leaving toward the server with the client's address:
# during the SNAT session, untranslated ones).
counters() {
	local line name='' n
	c_related=0
	c_dropped=0
	c_syn=0
	c_unnat=0
	while read -r line; do
		case $line in
		"counter "*)
			name=${line#counter }
			name=${name%% *}
			;;
		"packets "*)
			n=${line#packets }
			n=${n%% *}
			case $name in
			related_in) c_related=$n ;;
			dropped) c_dropped=$n ;;
			dropped_syn) c_syn=$n ;;
			untranslated) c_unnat=$n ;;
			esac
			;;
		esac
	done < <(R nft list counters table inet filter)
}

# show_counters [PREFIX]: read and print them.
show_counters() {
	counters
	ktap_info "${1:-}drops: $c_dropped other, $c_syn server SYN; related: $c_related"
}

# The drops logged since the session started (at most 8).
log_base=0
show_drops() {
	dmesg | grep -F "$LOG_PREFIX" | tail -n +$((log_base + 1)) | tail -n 8 |
		sed 's/^/#   /' || true
}

held=0
hold_data() {
	R nft -f - <<'NFT'
table inet hold {
	chain pre {
		type filter hook prerouting priority raw;
		iifname "veth1" tcp flags & (syn | ack) == syn drop
	}
}
NFT
	held=1
}

release_data() {
	((held)) || return 0
	R nft delete table inet hold 2>/dev/null || true
	held=0
}

# The pending expectation of the control connection from source port $1
# (conntrack -L expect line) in $exp_last.
exp_last=''
has_exp() {
	exp_last=$(R conntrack -L expect 2>/dev/null |
		grep -m1 -E "master-src=[^ ]+ master-dst=[^ ]+ sport=$1 dport=21 ") || true
	[[ -n $exp_last ]]
}

exp_tuple() { # the expected tuple of a conntrack -L expect line
	[[ $1 =~ proto=6\ src=[^\ ]+\ dst=[^\ ]+\ sport=[0-9]+\ dport=[0-9]+ ]] &&
		echo "${BASH_REMATCH[0]}"
}

# The control conntrack: conntrack -L line for original source port $1.
ctl_ct_line() {
	R conntrack -L -p tcp --sport "$1" 2>/dev/null | grep -m1 -E " dport=21 " || true
}

# Established, with the ftp helper and (SNAT) its binding.
ctl_ct_ok() { # sport nat
	local l
	l=$(ctl_ct_line "$1")
	[[ $l == *" ESTABLISHED "* && $l == *"helper=ftp"* &&
		$l == *" src=10.0.2.2 dst=${2:-10.0.1.2} sport=21 dport=$1 "* ]]
}

id_by_sport() {
	ckpt list --json | jq -e --argjson sp "$1" \
		'[.[] | select(.sport == $sp and .dport == 21) | .id] |
		if length == 1 then .[0] else null end'
}

has_id() {
	id_by_sport "$1" >/dev/null
}

# The store's record of the data connection of master $1 to port $2.
data_rec_ok() {
	ckpt list --json | jq -e --argjson m "$1" --argjson dp "$2" \
		'any(.[]; .master_id == $m and .dport == $dp and
			(.status | index("EXPECTED") != null))' >/dev/null
}

exp_checkpointed() { # id
	ckpt show "$1" --json | jq -e '(.expect | length) == 1' >/dev/null
}

seqadj_checkpointed() { # id
	ckpt show "$1" --json | jq -e '(.layers | index("seqadj") != null) and
		.seqadj.orig.offset_after != 0' >/dev/null
}

ms() {
	local t=${EPOCHREALTIME/[.,]/}
	echo $((t / 1000))
}

# ------------------------------------------------------------- sessions
#
# Each session reports a fixed number of results.  st DESC FUNC ARGS: one
# result; once one has failed, the session's later ones are reported as
# not reached.

sname=''
aborted=''
ctl_id=''
port=''
exp_before=''
t_port=0

st() {
	local desc="$sname: $1"
	shift
	if [[ -n $aborted ]]; then
		fail "$desc (not reached: $aborted)"
		return 0
	fi
	if "$@"; then
		ok "$desc"
	else
		fail "$desc"
		aborted=${desc#"$sname: "}
	fi
}

# Crash variants: restore (conntrack -F; ckptctl restore), reload (rmmod;
# conntrack -F; insmod), flush (conntrack -F), reload0 (rmmod; conntrack
# -F; insmod restore=0).
crash() {
	local t0
	t0=$(ms)
	case $1 in
	restore)
		R conntrack -F 2>/dev/null
		ckpt restore --json >"$tmp/restore.json" || echo '{}' >"$tmp/restore.json"
		;;
	reload)
		rmmod nf_ckpt_ct
		R conntrack -F 2>/dev/null
		insmod "$CT_KO" "${CT_ARGS[@]}"
		;;
	flush)
		R conntrack -F 2>/dev/null
		;;
	reload0)
		rmmod nf_ckpt_ct
		R conntrack -F 2>/dev/null
		insmod "$CT_KO" "${CT_ARGS[@]}" restore=0
		;;
	esac
	ktap_info "crash ($1) took $(($(ms) - t0)) ms"
	if [[ $1 == restore ]]; then
		ktap_info "ckptctl restore: $(<"$tmp/restore.json")"
	fi
}

session_start() { # name
	sname=$1
	aborted=''
	ctl_id=''
	release_data
	R conntrack -F 2>/dev/null || true
	if mod_loaded nf_ckpt_store; then ckpt flush >/dev/null; fi
	R nft reset counters table inet filter >/dev/null
	log_base=$(dmesg | grep -cF "$LOG_PREFIX" || true)
	ktap_info "--- $sname (at ${SECONDS}s)"
}

# A session that failed (a control always does) leaves dead connections
# behind, whose retransmissions would count as drops later: kill them.
session_end() {
	if [[ -z $aborted && -n ${CL_PID[A]:-} ]]; then
		cl A quit 10
	fi
	release_data
	cl_stop_all
	if [[ -n $aborted ]]; then
		ip netns exec "$server" ss -K -t dst 10.0.1.2 or dst "$SNAT_ADDR" \
			>/dev/null 2>&1 || true
		ip netns exec "$client" ss -K -t dst 10.0.2.2 >/dev/null 2>&1 || true
	fi
}

login() { # slot sport
	cl_start "$1" "$2" || return 1
	if mod_loaded nf_ckpt_ct; then
		wait_until 10 has_id "$2" ||
			{ ktap_info "no record of the control connection"; return 1; }
		ctl_id=$(id_by_sport "$2")
		ktap_info "control connection from port $2: ID $ctl_id"
	fi
}

# PORT, 200 (the server connected).
port_ok() { # slot
	cl "$1" port
	[[ $reply == PORT* ]] || { ktap_info "client: $reply"; return 1; }
	port=${reply#PORT }
	t_port=$(ms)
	cl "$1" reply 20
	if [[ $reply != "REPLY 200"* ]]; then
		ktap_info "PORT: $reply"
		port_diag
		return 1
	fi
	ktap_info "PORT $port: data connection up after $(($(ms) - t_port)) ms"
}

# RETR, the file intact.  The data connection stays open until close_ok.
retr_ok() { # slot
	local -a d
	cl "$1" retr 40
	[[ $reply == "DATA "* ]] || { ktap_info "RETR: $reply"; return 1; }
	read -r -a d <<<"$reply"
	[[ ${d[3]} == "$FILE_SIZE" && ${d[4]} == "$file_sha" ]] ||
		{ ktap_info "RETR: $reply (want $FILE_SIZE bytes, $file_sha)"; return 1; }
}

close_ok() { # slot
	cl "$1" close 40
	[[ $reply == "REPLY 226"* ]] || { ktap_info "after the transfer: $reply"; return 1; }
}

# Login and one whole transfer.
first_xfer() { # slot sport
	login "$1" "$2" && port_ok "$1" && retr_ok "$1" && close_ok "$1"
}

# PORT under hold: the helper's expectation for it must show.
port_held() { # slot sport
	hold_data
	cl "$1" port
	[[ $reply == PORT* ]] || { ktap_info "client: $reply"; return 1; }
	port=${reply#PORT }
	t_port=$(ms)
	if ! wait_until 15 has_exp "$2"; then
		ktap_info "no expectation for PORT $port in conntrack -L expect"
		return 1
	fi
	ktap_info "conntrack -L expect: $exp_last"
	exp_before=$(exp_tuple "$exp_last")
}

login_port_held() { # slot sport
	login "$1" "$2" && port_held "$1" "$2"
}

port_held_ckpt() { # slot sport
	port_held "$1" "$2" || return 1
	wait_until 10 exp_checkpointed "$ctl_id" ||
		{ ktap_info "the expectation is not in the store"; return 1; }
}

# The crash; with ckptctl restore, nothing failed (and, with $2 = 1, the
# pending expectation came back).
crash_ok() { # crash pending
	crash "$1"
	[[ $1 != restore ]] ||
		jq -e --argjson p "$2" '.restored >= 1 and .failed == 0 and
			($p == 0 or (.expects >= 1 and .fail_expect == 0))' \
			"$tmp/restore.json" >/dev/null
}

# After the crash: the control conntrack is back (helper, SNAT binding)
# with its ID.
ctl_back() { # sport nat
	local l id
	wait_until 15 ctl_ct_ok "$1" "$2" || true
	l=$(ctl_ct_line "$1")
	ktap_info "control conntrack: ${l:-none}"
	ctl_ct_ok "$1" "$2" || return 1
	id=$(id_by_sport "$1") || { ktap_info "no single record for port $1"; return 1; }
	[[ $id == "$ctl_id" ]] || { ktap_info "ID $ctl_id became $id"; return 1; }
}

crash_ctl_back() { # sport nat crash
	crash_ok "$3" 0 && ctl_back "$1" "$2"
}

# The restored expectation as conntrack shows it; then the server's SYNs
# are let through (the sooner, the sooner it retransmits).
exp_back() { # sport
	local after
	wait_until 10 has_exp "$1" || { ktap_info "no expectation after the restore"; return 1; }
	release_data
	ktap_info "conntrack -L expect: $exp_last"
	after=$(exp_tuple "$exp_last")
	[[ $after == "$exp_before" ]] || { ktap_info "was: $exp_before"; return 1; }
}

# What became of a PORT that got no 200.
port_diag() {
	show_counters
	if [[ -n $cur_nat ]] && ((c_unnat > 0)); then
		ktap_info "$c_unnat control segments left toward the server untranslated (from 10.0.1.2, not $cur_nat)"
	fi
	show_drops
}

# The server's SYN retransmission gets through (after release_data).
data_accepted() { # slot
	cl "$1" reply 40
	if [[ $reply != "REPLY 200"* ]]; then
		ktap_info "PORT: $reply"
		port_diag
		return 1
	fi
	ktap_info "PORT $port: data connection up $(($(ms) - t_port)) ms after PORT"
}

# The data connection came in through an expectation: counted as related,
# IPS_EXPECTED in conntrack -L (the control connection is not), recorded
# with the control connection as its master.  Checked while it is open and
# idle, before RETR: once closed, its record goes (and under TCG a
# retransmitted FIN can take its conntrack to TIME_WAIT early).
related_ok() { # nat
	local dst=${1:-10.0.1.2} dport l
	counters
	((c_related > rel_base)) ||
		{ ktap_info "ct state related counter: $c_related, was $rel_base"; return 1; }
	rel_base=$c_related
	R conntrack -L -u EXPECTED -p tcp 2>/dev/null >"$tmp/expected.txt" || true
	# Server to client (SNAT: to the mapped port), replies from the
	# client's port.
	l=$(grep -m1 -E "^tcp .* src=10.0.2.2 dst=$dst sport=[0-9]+ dport=[0-9]+ src=10.0.1.2 dst=10.0.2.2 sport=$port " \
		"$tmp/expected.txt") || true
	ktap_info "conntrack -L -u EXPECTED: ${l:-nothing to port $port}"
	[[ $l =~ dst=$dst\ sport=[0-9]+\ dport=([0-9]+) ]] || return 1
	dport=${BASH_REMATCH[1]}
	if grep -q " dport=21 " "$tmp/expected.txt"; then
		ktap_info "conntrack -L -u EXPECTED lists the control connection: no status filter"
		return 1
	fi
	wait_until 10 data_rec_ok "$ctl_id" "$dport" ||
		{ ktap_info "no record of the data connection with master $ctl_id"; return 1; }
}

no_drops() {
	show_counters
	((c_dropped == 0 && c_syn == 0)) || { show_drops; return 1; }
}

close_no_drops() { # slot
	close_ok "$1" && no_drops
}

control_alive() { # slot
	close_ok "$1" || return 1
	cl "$1" noop 30
	[[ $reply == "REPLY 200"* ]] || { ktap_info "NOOP: $reply"; return 1; }
	no_drops
}

# a, then (crash = restore) b, on one control connection; c with SNAT.
# The counters are not reset in between: "no drops" covers a and b.
# a: 6 results (7 with SNAT); b (crash = restore): 8 more.
cur_nat=''
rel_base=0
session_restore() { # name sport crash nat
	local sport=$2 how=$3 nat=$4
	cur_nat=$nat
	session_start "$1"
	st "first transfer${nat:+ (SNAT)}" first_xfer A "$sport"
	if [[ -n $nat ]]; then
		st "the PORT rewrite left a seqadj offset (checkpointed)" \
			wait_until 10 seqadj_checkpointed "$ctl_id"
	fi
	# What came in as related so far (the first data connection).
	counters
	rel_base=$c_related
	# Idle between two transfers: the checkpoint is settled.
	sleep 1
	st "a: crash ($how) between two transfers: control conntrack back, helper ftp, same ID${nat:+, SNAT binding}" \
		crash_ctl_back "$sport" "$nat" "$how"
	st "a: next PORT: the server's data connection passes (200)" port_ok A
	st "a: the data connection came in as RELATED through the helper's expectation" \
		related_ok "$nat"
	st "a: RETR: file intact" retr_ok A
	if [[ $how != restore ]]; then
		st "a: control connection alive (226, NOOP), no drops" control_alive A
		session_end
		return 0
	fi
	st "a: 226, no drops" close_no_drops A
	st "b: PORT: pending expectation in conntrack -L expect, checkpointed" \
		port_held_ckpt A "$sport"
	st "b: crash ($how) while the expectation is pending: conntrack and expectation restored, none failed" \
		crash_ok "$how" 1
	st "b: conntrack -L expect shows the restored expectation before the server's SYN" \
		exp_back "$sport"
	st "b: control conntrack back, helper ftp, same ID${nat:+, SNAT binding}" \
		ctl_back "$sport" "$nat"
	st "b: the server's held data connection uses the expectation (200)" data_accepted A
	st "b: the data connection came in as RELATED through the restored expectation" \
		related_ok "$nat"
	st "b: RETR: file intact" retr_ok A
	st "b: control connection alive (226, NOOP), no drops" control_alive A
	session_end
}

# d: the controls.  Client A does a transfer, client B sends PORT (the
# server's SYNs held: the expectation is pending); one crash; then A's next
# PORT must fail (a), and B's data connection must fail (b).  The part
# before the crash must work, else the control proves nothing.  4 results.
session_control() { # name sport crash
	local sa=$2 sb=$(($2 + 1)) how=$3
	session_start "$1"
	st "a: client A, first transfer" first_xfer A "$sa"
	st "b: client B, PORT: pending expectation in conntrack -L expect" \
		login_port_held B "$sb"
	sleep 1
	crash "$how" || true
	st "a: after the crash ($how), A's next PORT fails" ctl_a_fails "$sa"
	st "b: after the crash ($how), B's pending data connection fails" ctl_b_fails "$sb"
	aborted="a control"
	session_end
}

ctl_a_fails() { # sport
	local r ct
	cl A port
	cl A reply 6
	r=$reply
	ct=$(ctl_ct_line "$1")
	ktap_info "A: PORT: $r; control conntrack: ${ct:-none}"
	show_counters "A: "
	if [[ $r == "REPLY 200"* ]]; then
		ktap_info "A survived the crash without restore"
		return 1
	fi
	if [[ $r == "REPLY TIMEOUT" && -z $ct ]] && ((c_dropped > 0)); then
		ktap_info "A: failed part: the control connection (no conntrack; its segments INVALID, dropped)"
	else
		ktap_info "A: failed part: unclear"
	fi
}

syn_dropped() {
	counters
	((c_syn > 0))
}

ctl_b_fails() { # sport
	local r
	has_exp "$1" || exp_last=''
	ktap_info "B: expectation after the crash: ${exp_last:-none}"
	release_data
	# The server retransmits its SYN 1, 3, 7 s after PORT (6.1).
	wait_until 20 syn_dropped || true
	cl B reply 2
	r=$reply
	ktap_info "B: PORT: $r"
	show_counters "B: "
	if [[ $r == "REPLY 200"* ]]; then
		ktap_info "B's data connection passed without restore"
		return 1
	fi
	if ((c_syn > 0)); then
		ktap_info "B: failed part: the data connection (no expectation: the server's SYN dropped)"
	else
		ktap_info "B: failed part: unclear"
	fi
	show_drops
}

# ------------------------------------------------------------- runs

load_ct "${CT_ARGS[@]}"

# a + b: 14; a (reload): 6
session_restore "a+b, conntrack -F + ckptctl restore" 4021 restore ""
session_restore "a, rmmod; conntrack -F; insmod" 4022 reload ""

# c: 15
R nft -f - <<NFT
table ip nat {
	chain pre {
		type nat hook prerouting priority dstnat;
	}
	chain post {
		type nat hook postrouting priority srcnat;
		oifname "veth1" tcp dport 21 snat to $SNAT_ADDR
	}
}
NFT
session_restore "c (SNAT) a+b, conntrack -F + ckptctl restore" 4031 restore "$SNAT_ADDR"
R nft delete table ip nat

# d: 4 + 4
session_control "d, restore=0" 4041 reload0
{ rmmod nf_ckpt_ct && rmmod nf_ckpt_store; } || die "cannot unload nfckpt for the control"
session_control "d, no nfckpt" 4051 flush

ktap_finished
