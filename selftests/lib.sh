# SPDX-License-Identifier: GPL-2.0
#
# Shared helpers for the nfckpt selftests.  Source it after `set -e`.
#
# KTAP output: ktap_plan N, then one ok/fail/skip/mayfail per check, then
# ktap_finished, which exits 0 (all passed), 1 (a check failed) or 4 (all
# skipped).  Named network namespaces get a random suffix and are removed by
# the EXIT trap, as are the modules this test loaded.

ksft_pass=0
ksft_fail=1
ksft_skip=4

NFCKPT_ROOT=${NFCKPT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
NFCKPT_MODDIR=${NFCKPT_MODDIR:-$NFCKPT_ROOT/build/$(uname -r)}
CKPTCTL=${CKPTCTL:-$NFCKPT_ROOT/tools/ckptctl/ckptctl}
STORE_KO=$NFCKPT_MODDIR/nf_ckpt_store.ko
CT_KO=$NFCKPT_MODDIR/nf_ckpt_ct.ko

_ktap_n=0
_ktap_pass=0
_ktap_fail=0
_ktap_skip=0
_cleanup_hooks=()
_netns_list=()

ktap_plan() {
	echo "TAP version 13"
	echo "1..$1"
}

ktap_info() {
	echo "# $*"
}

ok() {
	_ktap_n=$((_ktap_n + 1))
	_ktap_pass=$((_ktap_pass + 1))
	echo "ok $_ktap_n $*"
}

fail() {
	_ktap_n=$((_ktap_n + 1))
	_ktap_fail=$((_ktap_fail + 1))
	echo "not ok $_ktap_n $*"
}

skip() {
	_ktap_n=$((_ktap_n + 1))
	_ktap_skip=$((_ktap_skip + 1))
	echo "ok $_ktap_n $* # SKIP"
}

# A known-flaky check under TCG: reported, never fails the test.
mayfail() {
	_ktap_n=$((_ktap_n + 1))
	_ktap_pass=$((_ktap_pass + 1))
	echo "ok $_ktap_n $* # mayfail"
}

# check "description" cmd args...: ok if cmd succeeds, else fail.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else fail "$desc"; fi
}

# check_not "description" cmd args...: ok if cmd fails.
check_not() {
	local desc=$1
	shift
	if "$@"; then fail "$desc"; else ok "$desc"; fi
}

ktap_finished() {
	ktap_info "totals: pass:$_ktap_pass fail:$_ktap_fail skip:$_ktap_skip"
	if ((_ktap_fail > 0)); then
		exit $ksft_fail
	elif ((_ktap_pass == 0 && _ktap_skip > 0)); then
		exit $ksft_skip
	fi
	exit $ksft_pass
}

# Skip the whole test (plan 1..0 style) with a reason.
ktap_skip_all() {
	echo "TAP version 13"
	echo "1..0 # SKIP $*"
	exit $ksft_skip
}

# Die in the middle of a test: reported as a failure of the test itself.
die() {
	echo "not ok $((_ktap_n + 1)) $* # aborted"
	exit $ksft_fail
}

at_exit() {
	_cleanup_hooks+=("$*")
}

_run_cleanup() {
	local rc=$? i ns
	set +e
	for ((i = ${#_cleanup_hooks[@]} - 1; i >= 0; i--)); do
		eval "${_cleanup_hooks[i]}" >/dev/null 2>&1
	done
	for ns in "${_netns_list[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	exit $rc
}
trap _run_cleanup EXIT

# netns_new VAR: create a namespace named after VAR with a random suffix and
# store its name in VAR.
netns_new() {
	local name
	name="$1-$(mktemp -u XXXXXX)"
	ip netns add "$name"
	ip -n "$name" link set lo up
	_netns_list+=("$name")
	printf -v "$1" '%s' "$name"
}

# topo_client_router_server: three namespaces on two veth links.
#   $client 10.0.1.2 fd00:1::2  --  10.0.1.1 fd00:1::1  $router
#   $router 10.0.2.1 fd00:2::1  --  10.0.2.2 fd00:2::2  $server
# The router forwards; client and server route through it.
topo_client_router_server() {
	netns_new client
	netns_new router
	netns_new server
	ip link add veth0 netns "$client" type veth peer name veth0 netns "$router"
	ip link add veth1 netns "$router" type veth peer name veth0 netns "$server"
	ip -n "$client" addr add 10.0.1.2/24 dev veth0
	ip -n "$client" addr add fd00:1::2/64 dev veth0 nodad
	ip -n "$router" addr add 10.0.1.1/24 dev veth0
	ip -n "$router" addr add fd00:1::1/64 dev veth0 nodad
	ip -n "$router" addr add 10.0.2.1/24 dev veth1
	ip -n "$router" addr add fd00:2::1/64 dev veth1 nodad
	ip -n "$server" addr add 10.0.2.2/24 dev veth0
	ip -n "$server" addr add fd00:2::2/64 dev veth0 nodad
	local ns
	for ns in "$client" "$router" "$server"; do
		ip netns exec "$ns" sh -c 'for l in /sys/class/net/veth*; do ip link set "${l##*/}" up; done'
	done
	ip -n "$client" route add default via 10.0.1.1
	ip -n "$client" -6 route add default via fd00:1::1
	ip -n "$server" route add default via 10.0.2.1
	ip -n "$server" -6 route add default via fd00:2::1
	ip netns exec "$router" sysctl -qw net.ipv4.ip_forward=1
	ip netns exec "$router" sysctl -qw net.ipv6.conf.all.forwarding=1
}

# Commands in the namespaces of topo_client_router_server (a test may
# define its own after sourcing this file).
R() { ip netns exec "$router" "$@"; }
C() { ip netns exec "$client" "$@"; }
S() { ip netns exec "$server" "$@"; }
ckpt() { R "$CKPTCTL" "$@"; }

# bg_in NS CMDLINE: a shell command line in namespace NS, detached: every
# process of it lives in the namespace and dies with it.
bg_in() {
	local ns=$1
	shift
	ip netns exec "$ns" setsid sh -c "$*" </dev/null >/dev/null 2>&1 &
}

# listening NS PROTO PORT: a socket of PROTO (tcp, udp) listens on PORT.
listening() {
	ip netns exec "$1" ss -Hln --"$2" "sport = :$3" | grep -q .
}

# nap SECONDS: sleep without a fork (a fork costs milliseconds under
# TCG): a read that times out on a pipe nobody writes to.
exec {_nap_fd}<> <(:)
nap() {
	read -r -t "$1" -u "$_nap_fd" || true
}

# wait_until SECONDS cmd args...: poll every WAIT_POLL s (0.1) until cmd
# succeeds.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		nap "${WAIT_POLL:-0.1}"
	done
}

info() {
	ktap_info "[${SECONDS}s] $*"
}

# secs_since EPOCHREALTIME: seconds since then, two decimals.
secs_since() {
	awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'
}

# Background processes: a test adds their PIDs to _pids and registers
# `at_exit kill_all`; kill_pid ends one early.
_pids=()
kill_all() {
	local p
	for p in "${_pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${_pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	_pids=()
}

kill_pid() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# The strict stateful router of the crash tests, inside a "table inet"
# after the caller's counters: input policy drop, and the head of a forward
# chain with policy drop, established/related accepted, new TCP only on a
# bare SYN from the client (veth0).  The caller adds its rules and closes
# the forward chain and the table; it also sets nf_conntrack_tcp_loose=0.
strict_router_chains() {
	cat <<'NFT'
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iifname "lo" accept
		meta l4proto { icmp, ipv6-icmp } accept
		counter drop
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "veth0" tcp flags & (fin | syn | rst | ack) == syn ct state new accept
NFT
}

mod_loaded() {
	[[ -d /sys/module/$1 ]]
}

# CTINJECT: tools/ctinject, built by make tools, or skip the test.
require_ctinject() {
	CTINJECT=$NFCKPT_ROOT/tools/ctinject/ctinject
	[[ -x $CTINJECT ]] || ktap_skip_all "ctinject not built: make tools"
}

# unload_with_holders MODULE: rmmod it and, first, every module holding
# it, transitively.  Fails if one of them is in use.
unload_with_holders() {
	local h
	mod_loaded "$1" || return 0
	for h in /sys/module/"$1"/holders/*; do
		[[ -e $h ]] || continue
		unload_with_holders "${h##*/}" || return 1
	done
	rmmod "$1"
}

# Load our modules (any order of arguments: store, ct).  Registered for
# unload at exit in reverse order.
load_store() {
	mod_loaded nf_ckpt_store && return 0
	insmod "$STORE_KO" "$@"
	at_exit "rmmod nf_ckpt_ct; rmmod nf_ckpt_store"
}

load_ct() {
	load_store
	mod_loaded nf_ckpt_ct && return 0
	modprobe nf_conntrack
	insmod "$CT_KO" "$@"
	at_exit "rmmod nf_ckpt_ct"
}

# reachable_copies [FILE...]: what a test runs as nobody or as root of a
# user namespace must not depend on where the tree lives: from a clone
# inside a 0700 directory they cannot execute tools/ckptctl/ckptctl (exit
# 126, not the kernel's EPERM) nor read the python helpers.  Copies
# ckptctl and each FILE into a mode-0755 directory (under $TMPDIR, /tmp by
# default, which they can reach) removed at exit; CKPTCTL then names the
# copy of ckptctl and REACH the directory ($REACH/NAME: the copy of FILE).
reachable_copies() {
	local f
	REACH=$(mktemp -d)
	at_exit "rm -rf $REACH"
	chmod 755 "$REACH"
	cp "$CKPTCTL" "$REACH/ckptctl"
	CKPTCTL=$REACH/ckptctl
	for f in "$@"; do
		cp "$f" "$REACH/"
	done
	chmod -R a+rX "$REACH"
}

require_modules_built() {
	[[ -f $STORE_KO && -f $CT_KO ]] ||
		ktap_skip_all "modules not built for $(uname -r): run make KVER=$(uname -r)"
}

require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || ktap_skip_all "$c not installed"
	done
}
