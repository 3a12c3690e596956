#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The restore at load is not followed by a second checkpoint of what it
# restored (issue #14 item 5).
#
# In netns A, ctinject makes $NR TCP conntracks while nf_ckpt_ct is
# loaded with no packet to see them: its walk at load records them.  Then
# nf_ckpt_ct goes, the table is flushed, and ctinject makes $NM other
# conntracks nobody recorded (the markers).  Once the records are at least
# $AGE_MIN s old, nf_ckpt_ct loads again: its restore re-creates the $NR,
# its first walk records the $NM markers.  Once they are recorded (the
# walk is past A's table: one batch of it),
#   1. the $NR came back (restored, dmesg);
#   2. every one of their BASE records is still as old as before: the walk
#      did not write them again;
#   3. the $NR conntracks carry their recorded IDs, the markers new ones.
# That a restored conntrack is checkpointed again when a packet changes it
# is nf_ckpt_restore.sh's and nf_ckpt_soak.sh's.
set -e
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

require_modules_built
require_cmd conntrack jq
require_ctinject

NR=40
NM=5
AGE_MIN=3

ktap_plan 4

tmp=$(mktemp -d)
at_exit "rm -rf $tmp"

for m in nf_ckpt_ct nf_ckpt_store; do
	mod_loaded "$m" && rmmod "$m"
done
modprobe nf_conntrack
modprobe nf_conntrack_netlink
load_store
netns_new A

ckpt() { ip netns exec "$A" "$CKPTCTL" "$@"; }
conns() {
	local out
	out=$(ckpt status 2>/dev/null) || out=
	if [[ $out =~ connections:\ ([0-9]+) ]]; then
		echo "${BASH_REMATCH[1]}"
	else
		echo -1
	fi
}
fill() {
	local out
	out=$(ip netns exec "$A" "$CTINJECT" -n "$1" --first "$2") ||
		die "ctinject: $out"
	info "fill: $out"
}

fill "$NR" 0
load_ct
have() { (($(conns) >= $1)); }
wait_until 300 have "$NR" || die "the walk at load did not record $NR ($(conns))"
ckpt list --json >"$tmp/before.json"

rmmod nf_ckpt_ct
ip netns exec "$A" conntrack -F 2>/dev/null
fill "$NM" 60000

# The youngest BASE record's age, in ms (-1: none).
youngest() {
	local id a min=-1
	for id in $(jq -r '.[].id' "$tmp/before.json"); do
		a=$(ckpt show "$id" --json 2>/dev/null | jq '.records.base.age_ms // -1')
		((a >= 0)) || { echo -1; return; }
		((min < 0 || a < min)) && min=$a
	done
	echo "$min"
}
old_enough() { (($(youngest) >= AGE_MIN * 1000)); }
wait_until 120 old_enough || die "records not $AGE_MIN s old ($(youngest) ms)"

dmesg_mark=$(dmesg | wc -l)
insmod "$CT_KO"	# load_ct's at_exit removes it
wait_until 300 have $((NR + NM)) || true
n=$(conns)
restored=$(dmesg | tail -n +$((dmesg_mark + 1)) | grep -o 'restored [0-9]*' | head -1 | awk '{ print $2 }')
age=$(youngest)
info "after insmod: $n connections in the store, restored ${restored:-?}, youngest restored BASE ${age} ms"

check "the walk recorded the $NM markers too ($n of $((NR + NM)))" test "$n" -eq $((NR + NM))
check "the restore at load restored $NR (${restored:-none})" test "${restored:-0}" -eq "$NR"
check "restored records were not written again by the walk (youngest ${age} ms, >= $((AGE_MIN * 1000)))" \
	test "$age" -ge $((AGE_MIN * 1000))

# IDs: the restored conntracks have theirs back (records not doubled).
ckpt list --json >"$tmp/after.json"
same_ids() {
	jq -r '.[] | select(.src == "10.64.0.0") | "\(.id) \(.sport)"' "$tmp/before.json" | sort >"$tmp/b"
	jq -r '.[] | select(.src == "10.64.0.0") | "\(.id) \(.sport)"' "$tmp/after.json" | sort >"$tmp/a"
	[[ $(wc -l <"$tmp/b") -eq $NR ]] && cmp -s "$tmp/a" "$tmp/b"
}
check "the $NR connections kept their IDs, one record set each" same_ids

ktap_finished
