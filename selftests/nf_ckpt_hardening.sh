#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Hardening (issue #7): privilege, limits, a save taken during churn.
#
# Permissions: every command of the nf_ckpt family through ckptctl
# (status, list = GET dump, show = GET, forget, flush, load, restore,
# monitor = joining the events group)
#   is refused (EPERM, "not permitted") to nobody, to root without
#   CAP_NET_ADMIN, and to root of a user namespace that does not own the
#   netns (unshare -U -r, from the initial netns and from a netns made by
#   root); also when the socket was opened, or is used, by a process
#   without the capability (fd passing, nf_ckpt_hard.py fdpass);
#   is allowed, and does what it says, for nobody holding CAP_NET_ADMIN
#   (ambient) and for root of a user namespace that owns its netns
#   (unshare -U -r -n), whose requests touch only that netns.
#   ID counter: a netns owner loads ID 2^64-1 into its own store; the ID
#   counter that all namespaces share must not wrap (it did: every new
#   conntrack got ID 1), so 10 connections of the router get 10 distinct IDs.
# Store full: with nf_ckpt_store's max_records a few records above what 10
#   established connections hold, 30 more connections through the router:
#   all of them work, the refused puts are counted (STATUS refused), the
#   store stays within the limit, the 10 keep their records and keep
#   working; once the limit is raised, the next packets of the others write
#   their records.
# Save during churn: connections open and close through the router while
#   ckptctl save runs three times; every file loads back whole (into a fresh
#   netns), every ID in it has a BASE record, no record comes twice.
# Conntrack table full during a restore: 100 connections in the store of an
#   empty netns, nf_conntrack_max 40: the restore creates at most 40 and
#   counts the others as fail_nospc, the store keeps its 200 records, the
#   conntrack count equals what was restored and drops to 0 on a flush
#   (nothing leaked); with the limit back, all 100 come back.
# Last, both modules unload.
#
# Malformed requests and bad save files: nf_ckpt_store.sh; fuzzing:
# nf_ckpt_fuzz.sh.  Helpers: nf_ckpt_hard.py.
# shellcheck disable=SC2154 # $client, $router, $server, $scratch, $ld, $rs: netns_new
set -e
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

require_modules_built
require_cmd python3 setpriv unshare nft conntrack jq timeout
[[ -x $CKPTCTL ]] || ktap_skip_all "ckptctl not built: make tools"

HERE=$(cd "$(dirname "$0")" && pwd)
HARD="$HERE/nf_ckpt_hard.py"
# nobody and user namespaces' roots run ckptctl (perms.sh)
reachable_copies
PORT=7000

ktap_plan 38

tmp=$(mktemp -d)
chmod 755 "$tmp"
at_exit "rm -rf $tmp"
pub=$tmp/pub		# readable input, writable output for any user
mkdir -m 1777 "$pub"

ckpt() { "$CKPTCTL" "$@"; }
# st [NETNS] records|refused|deletes: a counter of ckptctl status
st() {
	local out
	if (($# == 2)); then
		out=$(ip netns exec "$1" "$CKPTCTL" status)
		shift
	else
		out=$("$CKPTCTL" status)
	fi
	case $1 in
	records) [[ $out =~ records:\ +([0-9]+) ]] ;;
	*) [[ $out =~ $1\ ([0-9]+) ]] ;;
	esac && echo "${BASH_REMATCH[1]}"
}
# wait_slow SECONDS CMD...: wait_until for costly commands (every 0.5 s)
wait_slow() {
	WAIT_POLL=0.5 wait_until "$@"
}
ct_count() { ip netns exec "$1" cat /proc/sys/net/netfilter/nf_conntrack_count; }
# jf FILE KEY: a field of a JSON file
jf() { jq -r ".$2" "$1" 2>/dev/null; }

# The client side (nf_ckpt_hard.py client), one command at a time.
ncmd=0
agent() { # agent JSON [TIMEOUT]: run a command, its result in $tmp/res
	ncmd=$((ncmd + 1))
	echo "$1" >"$tmp/agent/cmd.$ncmd.tmp"
	mv "$tmp/agent/cmd.$ncmd.tmp" "$tmp/agent/cmd.$ncmd"
	wait_until "${2:-120}" test -e "$tmp/agent/done.$ncmd" || return 1
	cp "$tmp/agent/done.$ncmd" "$tmp/res"
}

# update_interval_ms: refused connections retry their records soon
load_ct update_interval_ms=300 grace_ms=2000

# ------------------------------------------------------------- permissions
ktap_info "[${SECONDS}s] permissions"
python3 "$HARD" gen "$tmp/init.ckpt:3" "$pub/p.ckpt:1:4242" \
	"$tmp/top.ckpt:1:0xffffffffffffffff" "$tmp/rs.ckpt:100:1000"
chmod 644 "$pub/p.ckpt"
ckpt load "$tmp/init.ckpt" 2>/dev/null
# Every record of IDs 1..3, decoded, but for what time changes
show_all() {
	local i
	for i in 1 2 3; do
		ckpt show "$i" --json | jq -c 'walk(if type == "object" then
			del(.age_ms, .expires_ms, .timeout) else . end)'
	done
}
show_all >"$tmp/show.before" 2>&1

# perms.sh deny|allow: every command, with the caller's credentials
cat >"$tmp/perms.sh" <<'EOF'
C=$1 expect=$2 d=$3 bad=0
step() { # step NAME ok|denied|fails CMD...
	local name=$1 want=$2 out rc
	shift 2
	out=$("$@" 2>&1) && rc=0 || rc=$?
	case $want in
	ok) [[ $rc == 0 ]] ;;
	denied) [[ $rc == 1 && $out == *"not permitted"* ]] ;;
	fails) [[ $rc != 0 && $out != *"not permitted"* ]] ;;
	esac && return
	bad=$((bad + 1))
	echo "$name: exit $rc, want $want: $out"
}
if [[ $expect == deny ]]; then
	for a in status list "show 4242" "forget 4242" flush "load $d/p.ckpt" \
		"restore --dry-run"; do
		# shellcheck disable=SC2086
		step "$a" denied "$C" $a
	done
	step monitor denied timeout 20 "$C" monitor
else
	step load ok "$C" load "$d/p.ckpt"
	step show ok "$C" show 4242
	step list ok sh -c "'$C' list | grep -q '^id=0x0000000000001092 '"
	step forget ok "$C" forget 4242
	step show-gone fails "$C" show 4242
	step load-again ok "$C" load "$d/p.ckpt"
	step flush ok "$C" flush
	step list-empty ok sh -c "'$C' status | grep -q '^records: *0 '"
	step restore ok "$C" restore --dry-run
	step monitor ok sh -c "timeout 2 '$C' monitor; test \$? = 124"
fi
echo "$expect: $bad unexpected"
exit $((bad > 0))
EOF
chmod 644 "$tmp/perms.sh"

perms() { # perms deny|allow DESCRIPTION WRAPPER...
	local expect=$1 desc=$2
	shift 2
	if "$@" bash "$tmp/perms.sh" "$CKPTCTL" "$expect" "$pub" >"$tmp/perms.out" 2>&1; then
		ok "$desc"
	else
		fail "$desc"
		sed 's/^/#   /' "$tmp/perms.out"
	fi
}
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
perms deny "nobody: every command refused (EPERM)" \
	"${NOBODY[@]}" --inh-caps=-all
perms deny "root without CAP_NET_ADMIN: every command refused" \
	setpriv --inh-caps=-net_admin --bounding-set=-net_admin
perms deny "root of a user namespace not owning the initial netns: refused" \
	unshare -U -r
netns_new scratch
perms deny "root of a user namespace not owning a netns made by root: refused" \
	ip netns exec "$scratch" unshare -U -r
perms allow "nobody with CAP_NET_ADMIN (ambient): every command works" \
	ip netns exec "$scratch" "${NOBODY[@]}" --inh-caps=+net_admin --ambient-caps=+net_admin
perms allow "root of a user namespace owning its netns (unshare -U -r -n): works" \
	unshare -U -r -n
if python3 "$HARD" fdpass >"$tmp/fdpass" 2>&1; then
	ok "opener and sender both need CAP_NET_ADMIN (fd passing)"
else
	fail "opener and sender both need CAP_NET_ADMIN (fd passing)"
fi
sed 's/^/#   /' "$tmp/fdpass"
show_all >"$tmp/show.after" 2>&1
check "records of the initial netns unchanged by all of it" \
	sh -c "grep -q '\"layers\"' '$tmp/show.before' && cmp -s '$tmp/show.before' '$tmp/show.after'"
ckpt flush

# The ID counter is shared by all namespaces: a netns owner moves it.
check "a netns owner loads ID 2^64-1 into its own store" \
	unshare -U -r -n "$CKPTCTL" load "$tmp/top.ckpt"

# ------------------------------------------------- a container's share
# A netns owned by a user namespace other than the initial one gets a
# share of the store (netns_max_records, netns_max_bytes): its root may
# LOAD, and must not fill the store for the host.
ktap_info "[${SECONDS}s] a container's share"
python3 "$HARD" gen "$tmp/s1.ckpt:10:5000" "$tmp/s2.ckpt:10:6000"
share=/sys/module/nf_ckpt_store/parameters/netns_max_records
old_share=$(cat "$share")
at_exit "echo $old_share >$share"
echo 30 >"$share"
unshare -U -r -n sh -c '
	C=$1 d=$2
	"$C" status --json >"$d/share.status" 2>&1
	"$C" load "$d/s1.ckpt" >"$d/share.load1" 2>&1; echo "rc=$?" >>"$d/share.load1"
	"$C" load "$d/s2.ckpt" >"$d/share.load2" 2>&1; echo "rc=$?" >>"$d/share.load2"
	"$C" status --json >"$d/share.status2" 2>&1' sh "$CKPTCTL" "$tmp"
echo "$old_share" >"$share"
ktap_info "container: $(tr '\n' ' ' <"$tmp/share.load2")$(jq -c '{records, refused, netns_limit_records}' "$tmp/share.status2" 2>/dev/null)"
check "a container's netns reports its share: 30 records" \
	jq -e '.netns_limit_records == 30' "$tmp/share.status"
check "its first 20 records fit" grep -qx "rc=0" "$tmp/share.load1"
share_full() {
	grep -q "share of the store is full" "$tmp/share.load2" &&
		grep -qx "rc=1" "$tmp/share.load2" &&
		jq -e '.records == 20 and .refused == 20' "$tmp/share.status2" >/dev/null
}
check "20 more: ENOSPC naming the share, nothing of them loaded" share_full
ckpt flush
ckpt status --json >"$tmp/share.init" 2>&1
init_share() {
	jq -e '.netns_limit_records == null' "$tmp/share.init" >/dev/null &&
		ckpt load "$tmp/s1.ckpt" && ckpt load "$tmp/s2.ckpt" &&
		test "$(st records)" = 40
}
check "the initial netns has no share: the same 40 records load" init_share
ckpt flush

# -------------------------------------------------------------- store full
ktap_info "[${SECONDS}s] store full"
topo_client_router_server
R nft -f - <<EOF
table inet hard {
	chain forward {
		type filter hook forward priority 0; policy accept;
		ct state established,related counter accept
		ct state new counter accept
	}
}
EOF
ip netns exec "$server" python3 "$HARD" serve --port $PORT --ready "$tmp/srv.ready" \
	</dev/null >"$tmp/serve.log" 2>&1 &
at_exit "kill $!"
mkdir "$tmp/agent"
ip netns exec "$client" python3 "$HARD" client --dst 10.0.2.2 --port $PORT \
	--dir "$tmp/agent" </dev/null >"$tmp/client.log" 2>&1 &
at_exit "kill $!"
wait_until 60 test -e "$tmp/srv.ready" || die "echo server did not start"

# IDs (id=0x...) of the router's records to the echo port with base and l4
held_ids() {
	R "$CKPTCTL" list 2>/dev/null |
		awk -v p=" dport=$PORT " 'index($0, p) && / layers=base,l4/ { print $1 }'
}
recorded() { (($(held_ids | wc -l) >= $1)); }

agent '{"op": "open", "tag": "held", "n": 10}' || die "client stuck"
check "10 connections open and echo" test "$(jf "$tmp/res" ok)" = 10
wait_slow 30 recorded 10 || true
held_ids | sort >"$tmp/held.ids"
ktap_info "their IDs: $(tr '\n' ' ' <"$tmp/held.ids")"
ids_ok() { # 10 distinct, each below 2^63 (positive as a signed 64-bit)
	local id
	[[ $(wc -l <"$tmp/held.ids") == 10 && $(sort -u "$tmp/held.ids" | wc -l) == 10 ]] || return 1
	while read -r id; do
		((16#${id#id=0x} > 0)) || return 1
	done <"$tmp/held.ids"
}
check "after that load, they got 10 distinct IDs below 2^63" ids_ok

used=$(st "$router" records)
limit=$((used + 6))
refused0=$(st "$router" refused)
max_records=/sys/module/nf_ckpt_store/parameters/max_records
old_limit=$(cat $max_records)
at_exit "echo $old_limit > $max_records"
echo $limit >$max_records
ktap_info "router store: $used records; max_records=$limit"

agent '{"op": "open", "tag": "flood", "n": 30}' 300 || die "client stuck"
ktap_info "flood: $(jq -c '{ok, fail}' "$tmp/res")"
check "store full: 30 more connections all open and echo" test "$(jf "$tmp/res" ok)" = 30
refused=$(st "$router" refused)
ktap_info "refused: $refused0 -> $refused; records $(st "$router" records) (limit $limit)"
check "refused puts (ENOSPC) are counted" test "$refused" -gt "$refused0"
check "the store stays within max_records" test "$(st "$router" records)" -le "$limit"
check "conntrack tracks all 40 anyway" test "$(ct_count "$router")" -ge 40
held_ids | sort >"$tmp/held.ids2"
check "the 10 earlier connections keep their base and l4 records" \
	sh -c "test -z \"\$(comm -23 '$tmp/held.ids' '$tmp/held.ids2')\""
agent '{"op": "ping", "tag": "held"}' || die "client stuck"
check "and keep working" test "$(jf "$tmp/res" ok)" = 10

echo "$old_limit" >$max_records
sleep 0.5	# past update_interval_ms: the next packet rewrites every layer
agent '{"op": "ping", "tag": "flood"}' 300 || die "client stuck"
check "limit raised: the flood connections echo again" test "$(jf "$tmp/res" ok)" = 30
wait_slow 30 recorded 40 && rc=0 || rc=$?
ktap_info "connections with records: $(held_ids | wc -l)"
check "and their next packets write their records (40 recorded)" test $rc = 0
agent '{"op": "close", "tag": "held"}' || die "client stuck"
agent '{"op": "close", "tag": "flood"}' || die "client stuck"

# ------------------------------------------------------- save during churn
ktap_info "[${SECONDS}s] save during churn"
churned() { (($(st "$router" deletes) >= $1)); }
deletes0=$(st "$router" deletes)
agent '{"op": "churn", "parallel": 6}' || die "client stuck"
wait_slow 120 churned $((deletes0 + 12)) || die "no churn"
saved=0
for i in 1 2 3; do
	d=$(st "$router" deletes)
	R "$CKPTCTL" save "$tmp/churn$i.ckpt" 2>>"$tmp/save.log" && saved=$((saved + 1))
	wait_slow 60 churned $((d + 6)) || true
done
agent '{"op": "churn-end"}' || die "client stuck"
ktap_info "churn: $(jq -c . "$tmp/res"); store deletes $deletes0 -> $(st "$router" deletes)"
sed 's/^/#   /' "$tmp/save.log"
check "three saves taken while connections open and close" test $saved = 3
check "the churning connections all worked" \
	sh -c "test \"\$(jq -r .fail '$tmp/res')\" = 0 && test \"\$(jq -r .ok '$tmp/res')\" -gt 0"
if python3 "$HARD" check-files "$tmp"/churn[123].ckpt >"$tmp/check-files" 2>&1; then
	ok "every ID of each file has a BASE record, no record twice"
else
	fail "every ID of each file has a BASE record, no record twice"
fi
sed 's/^/#   /' "$tmp/check-files"
loaded=0
for i in 1 2 3; do
	want=$(awk -v f="$tmp/churn$i.ckpt" '$1 == f { print $2 }' "$tmp/check-files")
	netns_new ld
	if ip netns exec "$ld" "$CKPTCTL" load "$tmp/churn$i.ckpt" 2>/dev/null &&
		[[ $(st "$ld" records) == "$want" ]]; then
		loaded=$((loaded + 1))
	fi
done
check "each file loads back whole into a fresh netns" test $loaded = 3
agent '{"op": "exit"}' || true

# --------------------------------------------- conntrack table full, restore
ktap_info "[${SECONDS}s] conntrack table full during a restore"
netns_new rs
ip netns exec "$rs" "$CKPTCTL" load "$tmp/rs.ckpt" 2>/dev/null
check "100 connections (200 records) in the store of an empty netns" \
	test "$(st "$rs" records)" = 200
old_max=$(sysctl -n net.netfilter.nf_conntrack_max)
at_exit "sysctl -qw net.netfilter.nf_conntrack_max=$old_max"
sysctl -qw net.netfilter.nf_conntrack_max=40
ip netns exec "$rs" "$CKPTCTL" restore --json >"$tmp/res1.json" 2>&1 || true
ktap_info "restore, nf_conntrack_max 40: $(jq -c . "$tmp/res1.json" 2>/dev/null || cat "$tmp/res1.json")"
nospc_ok() {
	local r n
	r=$(jf "$tmp/res1.json" restored)
	n=$(jf "$tmp/res1.json" fail_nospc)
	((r <= 40 && n > 0 && r + n == 100)) && [[ $(jf "$tmp/res1.json" failed) == "$n" ]]
}
check "at most 40 restored, the rest counted as fail_nospc" nospc_ok
check "the conntrack count is within the limit and equals what was restored" \
	test "$(ct_count "$rs")" = "$(jf "$tmp/res1.json" restored)"
check "the store still holds all 200 records" test "$(st "$rs" records)" = 200
ip netns exec "$rs" conntrack -F 2>/dev/null || true
wait_until 10 test "$(ct_count "$rs")" = 0 && rc=0 || rc=$?
check "a flush brings the count to 0: nothing leaked" test $rc = 0
sysctl -qw net.netfilter.nf_conntrack_max="$old_max"
ip netns exec "$rs" "$CKPTCTL" restore --json >"$tmp/res2.json" 2>&1 || true
ktap_info "restore, limit back: $(jq -c . "$tmp/res2.json" 2>/dev/null || cat "$tmp/res2.json")"
check "with the limit back, all 100 are restored" test "$(jf "$tmp/res2.json" restored)" = 100
ip netns exec "$rs" conntrack -F 2>/dev/null || true
wait_until 10 test "$(ct_count "$rs")" = 0 && rc=0 || rc=$?
check "and flushed again to 0" test $rc = 0

# A loaded record may hold any u64 timeout: 2^32 ms + 60 s must not wrap
# to 60 s (msecs_to_jiffies() takes 32 bits) but be clamped: conntrack
# caps timeouts at INT_MAX jiffies (99 days at HZ=250).
# (The second connection of the file: the first has a helper layer whose
# 16 bytes are no valid ftp state.)
python3 "$HERE/nf_ckpt.py" gen "$tmp/long.ckpt" 2 --first-id 0x100000 \
	--timeout-ms $(((1 << 32) + 60000))
ip netns exec "$rs" "$CKPTCTL" flush
ip netns exec "$rs" "$CKPTCTL" load "$tmp/long.ckpt" 2>/dev/null
ip netns exec "$rs" "$CKPTCTL" restore --json >"$tmp/res4.json" 2>&1 || true
ip netns exec "$rs" conntrack -L >"$tmp/long.ct" 2>&1 || true
long_to=$(awk '$1 == "tcp" && / sport=20001 / { print $3; exit }' "$tmp/long.ct")
ktap_info "restored with a timeout of 2^32 ms + 60 s: $(jq -c . "$tmp/res4.json" 2>/dev/null || cat "$tmp/res4.json"); conntrack -L: $(cat "$tmp/long.ct")"
check "a timeout over 2^32 ms is clamped, not wrapped" test "${long_to:-0}" -gt 4000000
ip netns exec "$rs" conntrack -F 2>/dev/null || true

# A file naming an unknown helper in 10 records: one modprobe per restore,
# not one per record (each is a usermode helper: seconds under TCG).
python3 "$HERE/nf_ckpt.py" gen "$tmp/nohelper.ckpt" 30 --first-id 0x200000 \
	--helper nosuchhelper
old_modprobe=$(cat /proc/sys/kernel/modprobe)
printf '#!/bin/sh\necho "$*" >>%s/modprobe.log\nexec %s "$@"\n' \
	"$tmp" "$old_modprobe" >"$tmp/modprobe"
chmod +x "$tmp/modprobe"
at_exit "echo $old_modprobe >/proc/sys/kernel/modprobe"
echo "$tmp/modprobe" >/proc/sys/kernel/modprobe
ip netns exec "$rs" "$CKPTCTL" flush
ip netns exec "$rs" "$CKPTCTL" load "$tmp/nohelper.ckpt" 2>/dev/null
ip netns exec "$rs" "$CKPTCTL" restore --json >"$tmp/res3.json" 2>&1 || true
echo "$old_modprobe" >/proc/sys/kernel/modprobe
asked=$(grep -c "nfct-helper-nosuchhelper" "$tmp/modprobe.log" 2>/dev/null) || true
ktap_info "restore with an unknown helper: $(jq -c . "$tmp/res3.json" 2>/dev/null || cat "$tmp/res3.json"); modprobe asked ${asked:-0} times"
check "an unknown helper in 10 records: 10 fail_helper, modprobe asked once" \
	test "$(jf "$tmp/res3.json" fail_helper)" = 10 -a "${asked:-0}" = 1
ip netns exec "$rs" conntrack -F 2>/dev/null || true

# ------------------------------------------------------------------ unload
ktap_info "[${SECONDS}s] unload"
check "nf_ckpt_ct unloads" rmmod nf_ckpt_ct
check "nf_ckpt_store unloads" rmmod nf_ckpt_store

ktap_finished
