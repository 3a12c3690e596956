#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Records as untrusted input (issue #13, items 1, 2, 4, 5).  Root of a
# container (a user namespace created by nobody, owning its netns: unshare
# -Urn as nobody) may LOAD records of its own making and RESTORE them.
#
# Item 1, L4 and tuples: records the store's shape checks let through
#   (SCTP state 9 = HEARTBEAT_ACKED, SCTP init 2, SCTP flags 2, TCP flag
#   bits 0x80 per direction and in last_flags, an ICMP destination
#   unreachable tuple, which has no inverse) are refused by the restore:
#   no conntrack for any of them, each counted in fail_inval; two valid
#   controls in the same file are restored; /proc/net/nf_conntrack reads
#   back.  TCP state 10, last_index 6, window scales 15 and zone direction
#   4 are refused by the store already (LOAD fails, nothing stored).
# Item 2, expectations (helpers sip and ftp loaded by the host): under a
#   sip master, an expectation naming helper ftp with class 3 (within
#   sip's expect_class_max, beyond ftp's) is refused; under an ftp master,
#   class 1 (beyond ftp's expect_class_max, 0) is refused; a control one
#   is restored; one of 2^40 ms is restored with a timeout capped at about
#   INT_MAX jiffies, not wrapped into the past.  An expectation with an
#   assign helper (NF_CKPT_EXP_A_ASSIGN_HELPER) loads, shows as assign=sip,
#   is restored, and after the store is flushed and nf_ckpt_ct reloaded
#   (which checkpoints what the kernel holds) its record says assign=sip
#   again: the kernel's expectation has it.
# Item 4, IDs: with conntrack flows of the initial netns (the host)
#   before, the container loads ID 2^63 - 1; new host conntracks get IDs
#   just above the host's earlier ones, below NF_CKPT_ID_TRACK_MAX, and
#   the host's highest ID stays; after rmmod/insmod nf_ckpt_ct, new host
#   conntracks get IDs none of the earlier host ones has, and the earlier
#   ones keep theirs.
# Item 5, modules and restores side by side: kernel.modprobe is a script
#   that logs its calls.  The container loads records naming NBOGUS
#   distinct helpers that do not exist, plus NBULK plain ones (work for
#   its restore), and restores in the background: no modprobe runs for
#   it; meanwhile a restore in the initial netns completes while the
#   container's is still running; every bogus record fails as fail_helper.
#   Last, with nf_conntrack_ftp unloaded, the host restores a record
#   naming ftp: modprobe is asked for nfct-helper-ftp, the module loads,
#   the conntrack has helper ftp.
#
# NFCKPT_STRESS=1: more records for item 5.
# shellcheck disable=SC2154 # $host_tbl: set below
set -e
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

require_modules_built
require_cmd python3 setpriv unshare nsenter conntrack nft jq awk
[[ -x $CKPTCTL ]] || ktap_skip_all "ckptctl not built: make tools"
[[ -r /proc/net/nf_conntrack || -d /proc/sys/net/netfilter ]] ||
	ktap_skip_all "no conntrack"

HERE=$(cd "$(dirname "$0")" && pwd)
if [[ ${NFCKPT_STRESS:-0} == 1 ]]; then
	NBOGUS=10000 NBULK=300000
else
	NBOGUS=3000 NBULK=150000
fi
CT_PARAMS=(restore=0)

ktap_plan 29

tmp=$(mktemp -d)
chmod 755 "$tmp"
at_exit "rm -rf $tmp"
mkdir -m 1777 "$tmp/pub"	# where nobody writes the container's PID
# The container runs ckptctl as nobody: from a copy it can reach.
reachable_copies

modprobe nf_conntrack_netlink
for m in nf_conntrack_sip nf_conntrack_ftp; do
	mod_loaded $m || { modprobe $m && at_exit "rmmod $m"; }
done
load_ct "${CT_PARAMS[@]}"

info "generating save files ($NBOGUS bogus helpers, $NBULK bulk)"
python3 "$HERE/nf_ckpt_trust.py" gen "$tmp" --bogus "$NBOGUS" --bulk "$NBULK"

# The container: a user namespace of nobody's owning its netns, held open
# by a sleep; C runs a command in it as its root (caps in it only).
if [[ -e /proc/sys/kernel/unprivileged_userns_clone ]]; then
	old_uns=$(cat /proc/sys/kernel/unprivileged_userns_clone)
	at_exit "echo $old_uns >/proc/sys/kernel/unprivileged_userns_clone"
	echo 1 >/proc/sys/kernel/unprivileged_userns_clone
fi
# shellcheck disable=SC2016 # $$ and $1 are the inner shell's
setpriv --reuid=65534 --regid=65534 --clear-groups unshare -Urn \
	sh -c 'echo $$ >"$1/cpid.tmp" && mv "$1/cpid.tmp" "$1/cpid" && exec sleep 100000' \
	sh "$tmp/pub" </dev/null >/dev/null 2>&1 &
_pids+=($!)
at_exit kill_all
wait_until 60 test -s "$tmp/pub/cpid" || die "no container"
cpid=$(cat "$tmp/pub/cpid")
C() { nsenter -t "$cpid" -U -n "$@"; }
# P: the host's root in the container's netns, to read its /proc/net
# files (nsenter'd into the user namespace, cat got EACCES on them)
P() { nsenter -t "$cpid" -n "$@"; }
ck() { C "$CKPTCTL" "$@"; }
[[ $(C cat /proc/self/uid_map) == *65534* ]] || die "container has no user namespace"
# jf FILE KEY: a field of a JSON file
jf() { jq -r ".$2" "$1" 2>/dev/null; }
res() { jq -c . "$1" 2>/dev/null || cat "$1"; }

# ------------------------------------------------------------ item 1
info "item 1: L4 state and tuples"
shape_refused() {
	local f bad=0
	for f in "$tmp"/shape-*.ckpt; do
		if ck load "$f" >"$tmp/shape.out" 2>&1; then
			echo "# ${f##*/}: loaded"
			bad=1
		fi
	done
	[[ $(ck status --json | jq -r .records) == 0 ]] || bad=1
	return $bad
}
check "store refuses TCP state 10, last_index 6, window scales 15, zone dir 4 at LOAD" \
	shape_refused
ck load "$tmp/l4bad.ckpt" || die "load l4bad.ckpt"
ck restore --json >"$tmp/r1.json" 2>&1 || true
info "restore: $(res "$tmp/r1.json")"
C conntrack -L >"$tmp/ct1" 2>/dev/null || true
sed 's/^/#   /' "$tmp/ct1"
check "the 6 refused records count as fail_inval, the 2 controls are restored" \
	test "$(jf "$tmp/r1.json" fail_inval)/$(jf "$tmp/r1.json" restored)" = 6/2
absent() { ! grep -q -- "$1" "$tmp/ct1"; }
check "SCTP state 9 (HEARTBEAT_ACKED): no conntrack" absent "sport=7001 "
check "SCTP init 2: no conntrack" absent "sport=7002 "
check "SCTP flags 2: no conntrack" absent "sport=7003 "
check "TCP direction flags 0x80: no conntrack" absent "sport=7004 "
check "TCP last_flags 0x80: no conntrack" absent "sport=7005 "
check "ICMP tuple without an inverse (type 3): no conntrack" absent "id=7006 "
check "the controls (SCTP, TCP ESTABLISHED) are there" \
	sh -c "grep -q 'sport=7101 ' '$tmp/ct1' && grep -q 'sport=7102 ' '$tmp/ct1'"
proc_reads() {
	P cat /proc/net/nf_conntrack >"$tmp/proc1" || return 1
	[[ $(wc -l <"$tmp/proc1") == "$(C cat /proc/sys/net/netfilter/nf_conntrack_count)" ]]
}
check "/proc/net/nf_conntrack reads back, one line per conntrack" proc_reads
C conntrack -F 2>/dev/null || true
ck flush

# ------------------------------------------------------------ item 2
info "item 2: expectations"
check "masters with expectations load" ck load "$tmp/exp.ckpt"
ck restore --json >"$tmp/r2.json" 2>&1 || true
P cat /proc/net/nf_conntrack_expect >"$tmp/exp1" 2>&1 || true
info "restore: $(res "$tmp/r2.json")"
sed 's/^/#   /' "$tmp/exp1"
check "2 expectations created, 2 refused (fail_expect)" \
	test "$(jf "$tmp/r2.json" expects)/$(jf "$tmp/r2.json" fail_expect)" = 2/2
check "sip master, expectation naming ftp with class 3: refused" \
	sh -c "! grep -q 'dport=30001 ' '$tmp/exp1'"
check "ftp master, class 1 beyond ftp's expect_class_max: refused" \
	sh -c "! grep -q 'dport=30002 ' '$tmp/exp1'"
check "the control expectation (sip, class 1) is there" \
	grep -q 'dport=30004 ' "$tmp/exp1"
long_to=$(awk '/dport=30003 / { print $1; exit }' "$tmp/exp1")
info "timeout of the 2^40 ms expectation: ${long_to:-none} s"
# INT_MAX jiffies: 8589934 s at HZ=250; anything beyond 30 days is no wrap
check "an expectation of 2^40 ms is there, its timeout capped (> 30 days), not wrapped" \
	test "${long_to:-0}" -gt 2592000
C conntrack -F 2>/dev/null || true
ck flush

ck load "$tmp/assign.ckpt" >"$tmp/assign.load" 2>&1 || true
ck show 0x2003 >"$tmp/show1" 2>&1 || true
sed 's/^/#   /' "$tmp/assign.load" "$tmp/show1"
check "an expectation with an assign helper loads and shows assign=sip" \
	grep -q "assign=sip" "$tmp/show1"
ck restore --json >"$tmp/r3.json" 2>&1 || true
P cat /proc/net/nf_conntrack_expect >"$tmp/exp2" 2>&1 || true
info "restore: $(res "$tmp/r3.json"); expectations: $(tr '\n' ' ' <"$tmp/exp2")"
check "and is restored" grep -q 'dport=30005 ' "$tmp/exp2"
# What the kernel holds, checkpointed anew: flush, reload (the first
# walk of each netns writes every conntrack's records).
ck flush
rmmod nf_ckpt_ct
insmod "$CT_KO" "${CT_PARAMS[@]}"
assign_again() {
	ck show 0x2003 >"$tmp/show2" 2>&1 && grep -q "assign=sip" "$tmp/show2"
}
WAIT_POLL=0.5 wait_until 60 assign_again && rc=0 || rc=$?
sed 's/^/#   /' "$tmp/show2"
check "re-checkpointed from the kernel after a reload: assign=sip" test "$rc" = 0
C conntrack -F 2>/dev/null || true
ck flush

# ------------------------------------------------------------ item 4
info "item 4: IDs per netns"
# One-packet flows are not worth restoring: only checkpoint_handshake=1
# gives them IDs, and this item is about IDs.
echo 1 >/sys/module/nf_ckpt_ct/parameters/checkpoint_handshake
# Conntrack in the initial netns, for flows on lo.
nft -f - <<'EOF'
table inet nfckpt_trust {
	chain out {
		type filter hook output priority 0; policy accept;
		ct state new counter
	}
}
EOF
at_exit "nft delete table inet nfckpt_trust"
at_exit "conntrack -D -p udp --dst 127.0.0.1"
"$CKPTCTL" flush
# ID (hex) of the host's record of UDP to 127.0.0.1:PORT
host_id() {
	"$CKPTCTL" list 2>/dev/null |
		awk -v p=" dport=$1 " 'index($0, p) && / dst=127.0.0.1 / { sub("id=", "", $1); print $1; exit }'
}
flows() { # PORT...: one UDP flow each, then their IDs in $ids
	local p id
	ids=()
	for p in "$@"; do
		echo x >/dev/udp/127.0.0.1/"$p" || true
	done
	for p in "$@"; do
		WAIT_POLL=0.5 wait_until 30 test -n "$(host_id "$p")" || true
		id=$(host_id "$p")
		ids+=("${id:-none}")
	done
}
track_max=$((0x7fffffffffffffff))
# IDs (0x...) all within (LO, NF_CKPT_ID_TRACK_MAX), at most LO + 1000
ids_after() {
	local lo=$1 id v
	shift
	for id in "$@"; do
		[[ $id == 0x* ]] || return 1
		v=$((id))
		((v > lo && v < track_max && v - lo <= 1000)) || return 1
	done
}
max_of() {
	local m=0 id
	for id in "$@"; do
		((id > m)) && m=$((id))
	done
	echo $m
}
flows 41001 41002 41003
a_ids=("${ids[@]}")
host_hi0=$("$CKPTCTL" status --json | jq -r .highest_id)
info "host IDs before: ${a_ids[*]}; host highest_id $host_hi0"
ck load "$tmp/top.ckpt" || true
check "the container loads ID 2^63 - 1, its highest_id" \
	test "$(ck status | awk '/highest id/ { print $3 }')" = 0x7fffffffffffffff
flows 41011 41012 41013
b_ids=("${ids[@]}")
info "host IDs after: ${b_ids[*]}"
check "new host conntracks continue the host's IDs, below NF_CKPT_ID_TRACK_MAX" \
	ids_after "$(max_of "${a_ids[@]}")" "${b_ids[@]}"
host_hi=$("$CKPTCTL" status | awk '/highest id/ { print $3 }')
check "the host's highest_id is its own ($host_hi)" \
	ids_after "$(max_of "${a_ids[@]}")" "$host_hi"
rmmod nf_ckpt_ct
insmod "$CT_KO" "${CT_PARAMS[@]}" checkpoint_handshake=1
flows 41021 41022 41023
c_ids=("${ids[@]}")
info "host IDs after the reload: ${c_ids[*]}"
all_distinct() {
	local n
	n=$(printf '%s\n' "$@" | sort -u | grep -c '^0x')
	((n == $#))
}
check "after rmmod/insmod nf_ckpt_ct no host ID is handed out again" \
	all_distinct "${a_ids[@]}" "${b_ids[@]}" "${c_ids[@]}"
kept() {
	local i p=(41001 41002 41003 41011 41012 41013) want=("${a_ids[@]}" "${b_ids[@]}")
	for i in "${!p[@]}"; do
		[[ $(host_id "${p[i]}") == "${want[i]}" ]] || return 1
	done
}
check "and the earlier host conntracks keep their IDs" kept
"$CKPTCTL" flush
ck flush

# ------------------------------------------------------------ item 5
info "item 5: modprobe and restores side by side"
old_modprobe=$(cat /proc/sys/kernel/modprobe)
cat >"$tmp/modprobe" <<EOF
#!/bin/sh
echo "\$*" >>$tmp/modprobe.log
case "\$*" in *nfckptbogus*) exit 1 ;; esac
exec $old_modprobe "\$@"
EOF
chmod 755 "$tmp/modprobe"
at_exit "echo $old_modprobe >/proc/sys/kernel/modprobe"
echo "$tmp/modprobe" >/proc/sys/kernel/modprobe
: >"$tmp/modprobe.log"
have_ftp_unloaded=0
if mod_loaded nf_conntrack_ftp; then
	rmmod nf_conntrack_ftp 2>/dev/null && have_ftp_unloaded=1
else
	have_ftp_unloaded=1
fi
old_max=$(sysctl -n net.netfilter.nf_conntrack_max)
at_exit "sysctl -qw net.netfilter.nf_conntrack_max=$old_max"
sysctl -qw net.netfilter.nf_conntrack_max=$((NBULK + 10000))
ck load "$tmp/bogus.ckpt" || die "load bogus.ckpt"
ck load "$tmp/bulk.ckpt" || die "load bulk.ckpt"
"$CKPTCTL" load "$tmp/hostplain.ckpt"
t0=$EPOCHREALTIME
ck restore --json >"$tmp/r5c.json" 2>&1 &
crest=$!
c_busy() {
	[[ -s $tmp/modprobe.log ]] ||
		(($(C cat /proc/sys/net/netfilter/nf_conntrack_count) > 0))
}
wait_until 60 c_busy || true
info "container restore running ($(secs_since "$t0") s)"
t1=$EPOCHREALTIME
"$CKPTCTL" restore --json >"$tmp/r5h.json" 2>&1 &
hrest=$!
host_done() { ! kill -0 $hrest 2>/dev/null; }
wait_until 20 host_done && hdone=1 || hdone=0
host_s=$(secs_since "$t1")
kill -0 $crest 2>/dev/null && cbusy=1 || cbusy=0
if ((!hdone)); then
	# Unblock: an empty modprobe path makes request_module() return at once.
	echo >/proc/sys/kernel/modprobe
fi
wait $hrest || true
wait $crest || true
echo "$tmp/modprobe" >/proc/sys/kernel/modprobe
info "host restore: $(res "$tmp/r5h.json") after $host_s s (done in bound: $hdone, container's still running: $cbusy)"
info "container restore: $(res "$tmp/r5c.json") in $(secs_since "$t0") s"
check "the host's restore completes while the container's is running" \
	test "$hdone/$cbusy/$(jf "$tmp/r5h.json" restored)" = 1/1/1
asked=$(grep -c nfckptbogus "$tmp/modprobe.log") || true
info "modprobe calls for the container's helpers: ${asked:-0}"
check "no modprobe ran for the container's restore" test "${asked:-0}" = 0
check "each of the $NBOGUS bogus helpers fails as fail_helper" \
	test "$(jf "$tmp/r5c.json" fail_helper)" = "$NBOGUS"
C conntrack -F 2>/dev/null || true
ck flush

at_exit "conntrack -D -s 10.0.7.2"
at_exit "conntrack -D -s 10.6.0.2"
if ((have_ftp_unloaded)); then
	"$CKPTCTL" flush
	"$CKPTCTL" load "$tmp/hostftp.ckpt"
	: >"$tmp/modprobe.log"
	"$CKPTCTL" restore --json >"$tmp/r5f.json" 2>&1 || true
	conntrack -L -s 10.0.7.2 >"$tmp/ct5" 2>/dev/null || true
	info "host restore naming ftp: $(res "$tmp/r5f.json"); modprobe: $(tr '\n' ' ' <"$tmp/modprobe.log"); $(cat "$tmp/ct5")"
	check "the host's restore loads nf_conntrack_ftp and gives the conntrack its helper" \
		sh -c "test '$(jf "$tmp/r5f.json" restored)' = 1 && test -d /sys/module/nf_conntrack_ftp && grep -q 'helper=ftp' '$tmp/ct5'"
	check "modprobe was asked for nfct-helper-ftp once" \
		test "$(grep -c 'nfct-helper-ftp' "$tmp/modprobe.log")" = 1
else
	skip "the host's restore loads nf_conntrack_ftp (in use, cannot unload)"
	skip "modprobe was asked for nfct-helper-ftp once"
fi
"$CKPTCTL" flush

ktap_finished
