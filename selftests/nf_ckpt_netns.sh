#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Network namespace churn (issue #7).  The store keeps one record table per
# netns (kmod/store/core.c: the pernet exit frees it with every record and
# gives their charge back to the global limits); nf_ckpt_ct unregisters its
# hooks and drops its per-connection state at netns exit (kmod/ct/main.c).
#
# NETNS_TOTAL router namespaces, NETNS_WAVE at a time, each between a
# client and a server namespace that stay (client -- router i -- server,
# 10.1.i.0/24 and 10.2.i.0/24, a stateful forward chain, masquerade on
# every other router).  Through each router: NETNS_TCP long TCP
# connections and a UDP flow exchanging a message every second, and one
# short TCP connection closed at once.  Checks:
#   - every router's store holds exactly NETNS_TCP + 1 connections (the
#     short one ended: forgotten), none refused;
#   - each wave is deleted while its traffic runs, records and all; from
#     the first wave on the global limits (max_records, max_bytes) are set
#     to 1.5 times what one wave uses, so the next waves fit only if the
#     deleted ones gave their charge back: no put is ever refused;
#   - control: the limit set just above what the last wave holds, a
#     further router is refused while the wave lives; after the wave is
#     deleted, another router fits under that same limit;
#   - the client's sockets of deleted routers all time out; every netns is
#     freed (net_namespace objects back at the baseline); no record in the
#     namespaces that stay; the slab caches (nf_conntrack, kmalloc, the
#     store's nf_ckpt_slot4 and nf_ckpt_slot6) back at the baseline taken
#     before the churn.
# The kernel console must stay clean (vm-run).  Short form in make check;
# NFCKPT_STRESS=1: 200 namespaces.  NETNS_TOTAL / NETNS_WAVE override.
set -e
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

require_modules_built
require_cmd nft jq
[[ -x $CKPTCTL ]] || ktap_skip_all "ckptctl not built: make tools"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
[[ -r $NFCKPT_ROOT/selftests/nf_ckpt_netns.py ]] || ktap_skip_all "nf_ckpt_netns.py missing"

if [[ ${NFCKPT_STRESS:-0} == 1 ]]; then
	NETNS_TOTAL=${NETNS_TOTAL:-200}
	NETNS_WAVE=${NETNS_WAVE:-20}
else
	NETNS_TOTAL=${NETNS_TOTAL:-20}
	NETNS_WAVE=${NETNS_WAVE:-10}
fi
NETNS_TCP=${NETNS_TCP:-2}
PORT=7500
((NETNS_WAVE >= 2 && NETNS_TOTAL >= 2 * NETNS_WAVE && NETNS_TOTAL <= 249)) ||
	die "need 2 <= NETNS_WAVE, 2 waves <= NETNS_TOTAL <= 249"
WAVES=$(((NETNS_TOTAL + NETNS_WAVE - 1) / NETNS_WAVE))

ktap_plan 10

tmp=$(mktemp -d)
at_exit "rm -rf $tmp"
at_exit kill_all
at_exit routers_del_all
mkdir "$tmp/w"

NS=("$PY" -I -S -X "pycache_prefix=$tmp/pyc" -c
	"import sys; sys.path.insert(0, sys.argv.pop(1)); import nf_ckpt_netns; nf_ckpt_netns.main()"
	"$NFCKPT_ROOT/selftests")

# lib.sh wait_until polls half as often: the checks fork several tools.
# shellcheck disable=SC2034
WAIT_POLL=0.2

# ---------------------------------------------------------------- routers
rprefix=nsr-$(mktemp -u XXXXXX)
declare -A LIVE	# router index -> 1 while its netns exists

routers_del_all() {
	local i
	for i in "${!LIVE[@]}"; do
		echo "netns del $rprefix-$i"
	done | ip -b - >/dev/null 2>&1
	LIVE=()
}

# routers_add i...: namespaces, links, addresses, ruleset, forwarding.
routers_add() {
	local i specs=()
	for i in "$@"; do
		echo "netns add $rprefix-$i"
	done | ip -b - || return 1
	for i in "$@"; do
		LIVE[$i]=1
	done
	for i in "$@"; do
		echo "link add c$i netns $client type veth peer name a netns $rprefix-$i"
		echo "link add s$i netns $server type veth peer name b netns $rprefix-$i"
	done | ip -b - || return 1
	for i in "$@"; do
		echo "addr add 10.1.$i.2/24 dev c$i"
		echo "link set c$i up"
		echo "route add 10.2.$i.0/24 via 10.1.$i.1"
	done | ip -n "$client" -b - || return 1
	for i in "$@"; do
		echo "addr add 10.2.$i.2/24 dev s$i"
		echo "link set s$i up"
		echo "route add 10.1.$i.0/24 via 10.2.$i.1"
	done | ip -n "$server" -b - || return 1
	for i in "$@"; do
		specs+=("$rprefix-$i,10.1.$i.1,10.2.$i.1")
	done
	"${NS[@]}" conf --rules "$tmp/rules.nft" --masq-rules "$tmp/masq.nft" "${specs[@]}"
}

routers_del() {
	local i
	for i in "$@"; do
		echo "netns del $rprefix-$i"
	done | ip -b -
	for i in "$@"; do
		unset "LIVE[$i]"
	done
}

# ST[i.key]: the store counters of router i (status_of i...).
declare -A ST
status_of() {
	local name c r b p d f i
	ST=()
	while read -r name c r b p d f; do
		[[ $c =~ ^[0-9]+$ ]] || continue	# "NAME error ...": no store
		i=${name##*-}
		ST[$i.conns]=$c ST[$i.records]=$r ST[$i.bytes]=$b ST[$i.puts]=$p
		ST[$i.deletes]=$d ST[$i.refused]=$f
	done < <("${NS[@]}" status "${@/#/$rprefix-}")
}

# Every router named holds NETNS_TCP + 1 connections, none refused.
routers_recorded() {
	local i
	status_of "$@"
	for i in "$@"; do
		[[ ${ST[$i.conns]} == $((NETNS_TCP + 1)) && ${ST[$i.refused]} == 0 ]] || return 1
	done
}

routers_report() {
	local i out=
	for i in "$@"; do
		out+="$i:${ST[$i.conns]:-?}/${ST[$i.records]:-?}/${ST[$i.refused]:-?} "
	done
	echo "$out"
}

# wave_up N i...: hand the routers to the client, wait for their traffic.
wave_up() {
	local n=$1
	shift
	echo "$@" >"$tmp/w/.wave-$n"
	mv "$tmp/w/.wave-$n" "$tmp/w/wave-$n"
	wait_until 180 test -e "$tmp/w/wave-$n.up" || return 1
	[[ ! -s $tmp/w/wave-$n.err ]]
}

# The namespaces deleted so far have been through their pernet exits: ip
# netns del only drops a reference, the exits run later from a workqueue,
# and the store's (which gives the charge back) runs before nf_conntrack's,
# which frees the last conntrack of the netns.  With no router left, no
# conntrack object is in use.  (net_namespace objects themselves are
# freed later still, at times minutes later under TCG.)
slab_active() { # cache
	local name active rest
	echo 1 >"/sys/kernel/slab/$1/shrink" 2>/dev/null || true
	while read -r name active rest; do
		if [[ $name == "$1" ]]; then
			echo "$active"
			return
		fi
	done </proc/slabinfo
	echo -1
}

netns_exited() {
	((${#LIVE[@]} == 0 && $(slab_active nf_conntrack) == 0))
}

store_param() { # name value
	((nfckpt)) || return 0
	echo "$2" >"/sys/module/nf_ckpt_store/parameters/$1"
}

# ---------------------------------------------------------------- slab
SLAB_CACHES="nf_conntrack kmalloc-64 kmalloc-96 kmalloc-128 kmalloc-192 kmalloc-256 kmalloc-512 kmalloc-1k"
slab_read() { # array name
	local -n _s=$1
	local name active rest f
	for f in /sys/kernel/slab/*/shrink; do
		echo 1 >"$f" 2>/dev/null || true
	done
	_s=()
	while read -r name active rest; do
		if [[ " $SLAB_CACHES nf_ckpt_slot4 nf_ckpt_slot6 net_namespace " == *" $name "* ]]; then
			_s["$name"]=$active
		fi
	done </proc/slabinfo
}

# ---------------------------------------------------------------- setup
cat >"$tmp/rules.nft" <<'NFT'
table inet filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "a" ct state new accept
		counter drop
	}
}
NFT
cat >"$tmp/masq.nft" <<'NFT'
table ip nat {
	chain post {
		type nat hook postrouting priority srcnat;
		oifname "b" masquerade
	}
}
NFT

for m in nf_ckpt_ct nf_ckpt_store; do
	if mod_loaded $m; then rmmod $m || die "$m is loaded and cannot be removed"; fi
done
modprobe -a nf_conntrack nf_nat nft_chain_nat nft_masq veth
# NETNS_NFCKPT=0: the same churn without nfckpt, for the slab deltas of
# the kernel alone (the store's checks are skipped).
nfckpt=${NETNS_NFCKPT:-1}
if ((nfckpt)); then
	load_store
	load_ct
fi
store_param max_records 4194304
store_param max_bytes $((256 << 20))
at_exit "store_param max_records 4194304; store_param max_bytes $((256 << 20))"

netns_new client
netns_new server
ip netns exec "$server" "${NS[@]}" serve --port "$PORT" </dev/null >"$tmp/serve.out" 2>&1 &
_pids+=($!)
ip netns exec "$client" "${NS[@]}" client --dir "$tmp/w" --port "$PORT" --tcp "$NETNS_TCP" \
	</dev/null >"$tmp/client.out" 2>&1 &
_pids+=($!)
# A first router, created and deleted: the one-time allocations of the
# first netns with conntrack, NAT and a ruleset come before the baseline.
routers_add 250 || die "the warm-up router could not be set up"
wave_up 0 250 || die "no traffic through the warm-up router: $(cat "$tmp/w/wave-0.err" "$tmp/client.out" 2>/dev/null)"
routers_del 250
wait_until 60 test -e "$tmp/w/wave-0.down" || info "the warm-up router's sockets linger"

declare -A SLAB0 SLAB1
slab_read SLAB0
info "baseline slab: $(for c in $SLAB_CACHES nf_ckpt_slot4 nf_ckpt_slot6 net_namespace; do printf '%s=%s ' "$c" "${SLAB0[$c]:--}"; done)"
info "$NETNS_TOTAL namespaces, $NETNS_WAVE at a time ($WAVES waves), $NETNS_TCP TCP + 1 UDP connections each"

# ---------------------------------------------------------------- churn
up_fail=0 rec_fail=0 refused=0 made=0 limits=
for ((w = 1; w <= WAVES; w++)); do
	first=$(((w - 1) * NETNS_WAVE + 1))
	last=$((w * NETNS_WAVE))
	((last > NETNS_TOTAL)) && last=$NETNS_TOTAL
	idx=$(seq "$first" "$last")
	t0=$SECONDS
	# shellcheck disable=SC2086
	routers_add $idx || die "wave $w: the routers could not be set up"
	made=$((made + last - first + 1))
	t1=$SECONDS
	# shellcheck disable=SC2086
	if ! wave_up "$w" $idx; then
		up_fail=$((up_fail + 1))
		info "wave $w: no traffic through: $(cat "$tmp/w/wave-$w.err" 2>/dev/null)"
	fi
	t2=$SECONDS
	# shellcheck disable=SC2086
	if ((nfckpt)) && ! wait_until 30 routers_recorded $idx; then
		rec_fail=$((rec_fail + 1))
		info "wave $w: router:connections/records/refused $(routers_report $idx)"
	fi
	wr=0 wb=0
	for i in $idx; do
		wr=$((wr + ${ST[$i.records]:-0})) wb=$((wb + ${ST[$i.bytes]:-0}))
		refused=$((refused + ${ST[$i.refused]:-0}))
	done
	if ((nfckpt)) && [[ -z $limits ]]; then
		# From now on the store may hold 1.5 waves' worth, all netns together.
		store_param max_records $((wr * 3 / 2))
		store_param max_bytes $((wb * 3 / 2))
		limits="max_records $((wr * 3 / 2)), max_bytes $((wb * 3 / 2))"
		info "wave 1 holds $wr records, $wb bytes: limits now $limits"
	fi
	if ((w < WAVES)); then
		# shellcheck disable=SC2086
		routers_del $idx
		# Before the next wave puts anything: the limits count all netns.
		t3=$SECONDS
		wait_until 180 netns_exited ||
			info "wave $w: $(slab_active nf_conntrack) conntracks of deleted namespaces left"
		t_free=$((SECONDS - t3))
	else
		t_free=-
	fi
	info "wave $w: routers $first..$last set up in $((t1 - t0)) s, traffic up in $((t2 - t1)) s," \
		"$wr records ($wb bytes); deleted with their traffic running, freed after $t_free s"
done
check "$made namespaces created, traffic through every one ($up_fail waves failed)" test "$up_fail" = 0
skip_or() { # description cmd...: skip without nfckpt, else check
	if ((nfckpt)); then check "$@"; else skip "$1"; fi
}
skip_or "every router's store holds its $((NETNS_TCP + 1)) live connections, the short one forgotten ($rec_fail waves not)" \
	test "$rec_fail" = 0
skip_or "no put refused under limits of 1.5 waves ($limits): deleted namespaces gave their charge back ($refused refused)" \
	test "$refused" = 0

# ---- control and its counterpart, under a limit just above what the last
# wave holds.
last_idx=$idx
# shellcheck disable=SC2086
status_of $last_idx
held_r=0 held_b=0
for i in $last_idx; do
	held_r=$((held_r + ST[$i.records])) held_b=$((held_b + ST[$i.bytes]))
done
store_param max_records $((held_r + 2))
store_param max_bytes $((held_b + 1024))
routers_add 251 || die "the control router could not be set up"
wave_up c1 251 || info "control router: $(cat "$tmp/w/wave-c1.err" 2>/dev/null)"
status_of 251
nap 2
status_of 251
skip_or "control: with the last wave alive, a further router's puts are refused (${ST[251.refused]} refused)" \
	test "${ST[251.refused]:-0}" -gt 0
# shellcheck disable=SC2086
routers_del $last_idx 251
wait_until 180 netns_exited || info "control: $(slab_active nf_conntrack) conntracks of deleted namespaces left"
routers_add 252 || die "the router after the control could not be set up"
wave_up c2 252 || info "router after the control: $(cat "$tmp/w/wave-c2.err" 2>/dev/null)"
if ((!nfckpt)); then
	skip "after the wave is deleted, a new router fits under the same limit"
elif wait_until 30 routers_recorded 252; then
	ok "after the wave is deleted, a new router fits under the same limit ($(routers_report 252))"
else
	fail "after the wave is deleted, a new router fits under the same limit ($(routers_report 252))"
fi
routers_del 252
store_param max_records 4194304
store_param max_bytes $((256 << 20))

# ---------------------------------------------------------------- after
downs() {
	local w
	for ((w = 1; w <= WAVES; w++)); do
		[[ -e $tmp/w/wave-$w.down ]] || return 1
	done
	[[ -e $tmp/w/wave-c1.down && -e $tmp/w/wave-c2.down ]]
}
check "the client's sockets through deleted routers all time out" wait_until 180 downs

netns_freed() {
	slab_read SLAB1
	((SLAB1[net_namespace] <= SLAB0[net_namespace]))
}
t0=$SECONDS
if wait_until 120 netns_freed; then
	ok "every deleted netns is freed (net_namespace objects ${SLAB0[net_namespace]} -> ${SLAB1[net_namespace]}, $((SECONDS - t0)) s)"
else
	fail "every deleted netns is freed (net_namespace objects ${SLAB0[net_namespace]} -> ${SLAB1[net_namespace]})"
fi

no_records_left() {
	local ns c
	for ns in "" "$client" "$server"; do
		if [[ -n $ns ]]; then
			c=$(ip netns exec "$ns" "$CKPTCTL" status --json | jq '.connections')
		else
			c=$("$CKPTCTL" status --json | jq '.connections')
		fi
		[[ $c == 0 ]] || return 1
	done
}
skip_or "no record in the namespaces that stay (init, client, server)" no_records_left

slab_within() {
	local c d tol
	slab_read SLAB1
	slab_report=
	slab_ok=1
	for c in $SLAB_CACHES nf_ckpt_slot4 nf_ckpt_slot6; do
		[[ -n ${SLAB0[$c]:-} ]] || continue
		d=$((SLAB1[$c] - SLAB0[$c]))
		tol=$SLAB_TOL
		[[ $c == nf_conntrack || $c == nf_ckpt_slot? ]] && tol=0
		slab_report+="$c ${SLAB0[$c]}->${SLAB1[$c]} ($d); "
		((d <= tol)) || slab_ok=0
	done
	((slab_ok))
}
# Tolerance: kmalloc caches are the whole kernel's.  The same churn
# without nfckpt (NETNS_NFCKPT=0, 6.1, 200 + 3 namespaces) left
# kmalloc-192 357 objects above its baseline and kmalloc-96 191 below:
# the kernel keeps about 2 objects per namespace churned, and moves by
# about 200 either way.  Hence 256 + 2 per namespace.  The routers put
# 6 records each (in kmalloc-192 and -256), so leaking one object per
# record would still exceed it.  Nothing of a router may stay in
# nf_conntrack or the store's slot caches: those must be back exactly.
SLAB_TOL=${SLAB_TOL:-$((256 + 2 * (made + 3)))}
if wait_until 30 slab_within; then
	ok "slab back to baseline (kmalloc within $SLAB_TOL objects, nf_conntrack and the store's slots exactly)"
else
	fail "slab back to baseline (kmalloc within $SLAB_TOL objects, nf_conntrack and the store's slots exactly)"
fi
info "slab, baseline -> after (delta): $slab_report"

ktap_finished
