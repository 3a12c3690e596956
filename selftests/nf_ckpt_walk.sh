#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nf_ckpt_ct's walk of the conntracks already there when it loads.
#
# ctinject fills netns A with $NA TCP conntracks (10.64.0.0, sports from
# 1024) and netns B with $NB (10.64.0.1, --first 60000), while
# nf_ckpt_store is loaded and nf_ckpt_ct is not; a third netns C has none.
# Then nf_ckpt_ct loads; the walk gives each an ID and its records.
#   1. correctness: once the walk is done, A's store holds exactly $NA
#      connections, all of A's tuples, none of B's; B's exactly $NB, all
#      its own; C's none.
#   2. the walk holds no conntrack lock across its work: while A's records
#      are still coming in (A partly walked), `rmmod nf_conntrack_ftp`
#      (helper unregistration: nf_ct_iterate_destroy() takes
#      nf_conntrack_mutex) returns before the walk of A is over.  A walk
#      that runs under nf_ct_iterate_cleanup_net() holds that mutex for all
#      of a netns: the rmmod then waits for the walk of A to end.
# Prints how long the walk and the rmmod took (and the rmmod without a
# walk).  NFCKPT_STRESS=1: 400000 conntracks in A.
set -e
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

require_modules_built
require_cmd conntrack modprobe
require_ctinject
modprobe -n nf_conntrack_ftp 2>/dev/null || ktap_skip_all "no nf_conntrack_ftp"

NA=200000
NB=20000
if [[ ${NFCKPT_STRESS:-0} == 1 ]]; then
	NA=400000
fi
WALK_MAX=900	# the whole walk, generous for TCG

ktap_plan 8

tmp=$(mktemp -d)
at_exit "rm -rf $tmp"

# Only what this test makes: no leftovers of the store or of a helper.
for m in nf_ckpt_ct nf_ckpt_store nf_nat_ftp nf_conntrack_ftp; do
	mod_loaded "$m" && rmmod "$m"
done
modprobe nf_conntrack
modprobe nf_conntrack_netlink
load_store
netns_new A
netns_new B
netns_new C
# nf_conntrack_max is global (set in the initial netns only).
ct_max=$(sysctl -n net.netfilter.nf_conntrack_max)
at_exit "sysctl -qw net.netfilter.nf_conntrack_max=$ct_max"
sysctl -qw net.netfilter.nf_conntrack_max=$((ct_max + NA + NB))
# ctnetlink refuses an entry whose chain is long already (ENOSPC): at
# least a bucket per four conntracks, as a host sized for them has.
hs=$(cat /sys/module/nf_conntrack/parameters/hashsize)
if ((hs < (NA + NB) / 4)); then
	at_exit "echo $hs >/sys/module/nf_conntrack/parameters/hashsize"
	echo $(((NA + NB) / 4)) >/sys/module/nf_conntrack/parameters/hashsize
fi
info "hash table: $(cat /sys/module/nf_conntrack/parameters/hashsize) buckets"

fill() {
	local ns=$1 n=$2 first=$3 out
	out=$(ip netns exec "$ns" "$CTINJECT" -n "$n" --first "$first") ||
		die "ctinject in $ns: $out"
	info "fill $ns: $out"
}
fill "$A" "$NA" 0
fill "$B" "$NB" 60000
info "tables: A $(ip netns exec "$A" conntrack -C) B $(ip netns exec "$B" conntrack -C)"

# The connections in a netns's store (-1: no answer).  No jq: one fork
# less per poll.
conns() {
	local out
	out=$(ip netns exec "$1" "$CKPTCTL" status 2>/dev/null) || out=
	if [[ $out =~ connections:\ ([0-9]+) ]]; then
		echo "${BASH_REMATCH[1]}"
	else
		echo -1
	fi
}

# ---------------------------------------------------------------- the walk
modprobe nf_conntrack_ftp
t0=$EPOCHREALTIME
load_ct
info "insmod returned after $(secs_since "$t0") s"
a_partial() { (($(conns "$A") > 0)); }
a_started=0
WAIT_POLL=0.05 wait_until 120 a_partial && a_started=1
a0=$(conns "$A")
t1=$EPOCHREALTIME
rmmod nf_conntrack_ftp
rm_s=$(secs_since "$t1")
a1=$(conns "$A")
b1=$(conns "$B")
info "rmmod nf_conntrack_ftp: $rm_s s; A had $a0 of $NA connections when it began, $a1 when it returned (B $b1 of $NB)"

walked() { (($(conns "$A") >= NA && $(conns "$B") >= NB)); }
WAIT_POLL=0.5 wait_until "$WALK_MAX" walked || true
walk_s=$(secs_since "$t0")
a2=$(conns "$A") b2=$(conns "$B") c2=$(conns "$C")
info "walk: ${walk_s} s from insmod to A $a2/$NA, B $b2/$NB, C $c2"

if ((a_started)); then
	check "rmmod nf_conntrack_ftp began while A was being walked ($a0 of $NA)" \
		test "$a0" -lt "$NA"
	check "rmmod nf_conntrack_ftp returned before the walk of A was over ($a1 of $NA; $rm_s s)" \
		test "$a1" -lt "$NA"
else
	fail "the walk of A began within 120 s"
	fail "rmmod during the walk (not tried)"
fi

# ---------------------------------------------------------------- correctness
check "A: $NA connections recorded ($a2)" test "$a2" -eq "$NA"
check "B: $NB connections recorded ($b2)" test "$b2" -eq "$NB"
check "C: none ($c2)" test "$c2" -eq 0

# The original tuples of a netns's records: "SRC SPORT", one a line.
tuples() {
	ip netns exec "$1" "$CKPTCTL" list 2>/dev/null | awk '{
		src = sport = ""
		for (i = 1; i <= NF; i++) {
			if (src == "" && $i ~ /^src=/) src = substr($i, 5)
			if (sport == "" && $i ~ /^sport=/) sport = substr($i, 7)
		}
		print src, sport
	}' | sort -u
}
# What ctinject made: entry i is 10.64.0.0 + i / 60000 : 1024 + i % 60000.
expected() {
	awk -v first="$1" -v n="$2" 'BEGIN {
		for (i = first; i < first + n; i++)
			printf "10.64.%d.%d %d\n", int(i / 60000) / 256, int(i / 60000) % 256, 1024 + i % 60000
	}' | sort -u
}
tuples "$A" >"$tmp/a.got"
tuples "$B" >"$tmp/b.got"
expected 0 "$NA" >"$tmp/a.want"
expected 60000 "$NB" >"$tmp/b.want"
info "A: $(wc -l <"$tmp/a.got") distinct tuples listed, B: $(wc -l <"$tmp/b.got")"
check "A's records are A's conntracks, every one" cmp -s "$tmp/a.got" "$tmp/a.want"
check "B's records are B's conntracks, every one" cmp -s "$tmp/b.got" "$tmp/b.want"
check "the walk finished within $WALK_MAX s (${walk_s} s)" walked

# For comparison: the same rmmod with no walk running.
modprobe nf_conntrack_ftp
t1=$EPOCHREALTIME
rmmod nf_conntrack_ftp
info "rmmod nf_conntrack_ftp with no walk running: $(secs_since "$t1") s"

ktap_finished
