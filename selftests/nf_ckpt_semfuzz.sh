#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Structure-aware fuzzing of the restore path (issue #13) with
# nf_ckpt_semfuzz.py: records that pass the store's shape checks but carry
# random meaning (states in and out of what conntrack uses, windows,
# flags, status bits, NAT, zones, helpers real and bogus, expectations of
# every class, flag, helper, assign helper and timeout, ICMP tuples that
# do and do not invert, v4 and v6), LOADed and RESTOREd round after round
# by root of a user namespace that nobody made (setpriv nobody, unshare
# -Ur, then unshare -n): what a container's root can do.  After each
# restore every kernel view of the result is read and checked:
# /proc/net/nf_conntrack and
# nf_conntrack_expect (state and class names from the kernel's tables),
# the RESTORE counts, conntrack -L -o extended, conntrack -L expect,
# ckptctl list and show, with conntrack -E running all along; then
# packets go through the restored flows that live on lo.  The VM runner
# fails the run on any kernel splat.
#   1. no helper module loaded, and none gets loaded (a container cannot
#      make the host load one): helper records fail, expectations too;
#   2. the host loads the ftp, sip, irc, tftp, H.323, amanda, sane, snmp,
#      netbios-ns and pptp helpers (and their NAT parts) first; the last
#      round's conntracks and expectations are kept, the helper modules
#      unload under them, and every view is read again;
#   3. the family still answers, both modules unload.
# Each run prints its seed and a summary line (records, restored, every
# failure reason, expectations, packets, events, seconds).
#
# Short form (make check): 2000 + 3000 records.  NFCKPT_STRESS=1 (make
# stress): 40000 + 70000.  NFCKPT_SEMFUZZ_SEED=S replays: run k uses S+k.
set -e
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

require_modules_built
require_cmd python3 setpriv unshare conntrack nft ip
[[ -x $CKPTCTL ]] || ktap_skip_all "ckptctl not built: make tools"

HERE=$(cd "$(dirname "$0")" && pwd)
# nobody and its user namespace run the fuzzer and ckptctl
reachable_copies "$HERE/nf_ckpt_semfuzz.py" "$HERE/nf_ckpt_fuzz.py"
SEMFUZZ=$REACH/nf_ckpt_semfuzz.py
pub=$REACH/pub
mkdir -m 1777 "$pub"

if [[ ${NFCKPT_STRESS:-0} == 1 ]]; then
	N_A=40000 N_B=70000
else
	N_A=2000 N_B=3000
fi
seed=${NFCKPT_SEMFUZZ_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}

ktap_plan 8
ktap_info "seed $seed (NFCKPT_SEMFUZZ_SEED=$seed replays this test)"

load_ct
# What the user namespace cannot load itself (ctnetlink for conntrack -L
# and the flushes, NAT for the NAT records).
for m in nf_conntrack_netlink nf_nat; do
	mod_loaded "$m" && continue
	modprobe "$m" || die "no module $m"
	at_exit "rmmod $m"
done
sysctl -qw kernel.unprivileged_userns_clone=1 2>/dev/null || true

HELPER_MODS="nf_conntrack_ftp nf_conntrack_sip nf_conntrack_irc nf_conntrack_tftp
	nf_conntrack_h323 nf_conntrack_amanda nf_conntrack_sane nf_conntrack_snmp
	nf_conntrack_netbios_ns nf_conntrack_pptp"
NAT_MODS="nf_nat_ftp nf_nat_sip nf_nat_irc nf_nat_tftp nf_nat_h323 nf_nat_amanda
	nf_nat_pptp"
loaded_helpers() {
	local m out=
	for m in $HELPER_MODS; do
		mod_loaded "$m" && out+=" $m"
	done
	echo "${out:- none}"
}

# semfuzz_run TAG SEED RECORDS [ARGS...]: one run as root of a user
# namespace that nobody made, in a netns of that user namespace; its
# output in $pub/out.TAG.  The netns comes after the uid map (a second
# unshare): conntrack's /proc files of a netns belong to its user
# namespace's root only if that one is mapped when the netns is made, as
# container runtimes do it.
semfuzz_run() {
	local tag=$1 s=$2 n=$3
	shift 3
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		unshare -Ur unshare -n python3 "$SEMFUZZ" run --ckptctl "$CKPTCTL" --seed "$s" \
		--records "$n" --tag "$tag" --events "$pub/events.$tag" "$@" \
		>"$pub/out.$tag" 2>&1
}

# semfuzz_report DESCRIPTION TAG EXIT: its output indented, ok if EXIT is 0
semfuzz_report() {
	sed '/^#/!s/^/# /' "$pub/out.$2"
	grep '^summary ' "$pub/out.$2" >>"$pub/summaries" || true
	if [[ $3 == 0 ]]; then ok "$1"; else fail "$1 (exit $3)"; fi
}

answers() { "$CKPTCTL" status >/dev/null; }

before=$(loaded_helpers)
info "helper modules loaded before run 1:$before"
semfuzz_run nohelpers "$seed" "$N_A" && rc=0 || rc=$?
semfuzz_report "user namespace, no helper loaded by the host: $N_A records restored, every view consistent" \
	nohelpers "$rc"
after=$(loaded_helpers)
info "helper modules loaded after run 1:$after"
check "the user namespace's restores made the host load no helper module" test "$before" = "$after"
check "the family still answers" answers

missing=
for m in $HELPER_MODS $NAT_MODS; do
	mod_loaded "$m" && continue
	if modprobe "$m" 2>/dev/null; then
		at_exit "rmmod $m"
	else
		missing+=" $m"
	fi
done
[[ -z $missing ]] || info "not available:$missing"
info "helper modules loaded before run 2:$(loaded_helpers)"

# Run 2 keeps its last round (conntracks and expectations using the
# helpers) until the helper modules are gone, then reads every view again.
semfuzz_run helpers $((seed + 1)) "$N_B" --hold "$pub/hold" &
fz=$!
_pids+=("$fz")
at_exit kill_all
held() { [[ -e $pub/hold/held ]] || ! kill -0 "$fz" 2>/dev/null; }
wait_until $((N_B / 2 + 1200)) held || true
unloaded=0 tried=0
if [[ -e $pub/hold/held ]]; then
	info "held: $(cat "$pub/hold/held")"
	for m in $NAT_MODS $HELPER_MODS; do
		mod_loaded "$m" || continue
		tried=$((tried + 1))
		if rmmod "$m"; then unloaded=$((unloaded + 1)); else info "rmmod $m failed"; fi
	done
	touch "$pub/hold/release"
fi
wait "$fz" && rc=0 || rc=$?
_pids=()
semfuzz_report "user namespace, helpers loaded by the host: $N_B records restored, every view consistent" \
	helpers "$rc"
check "the helper modules unload under the restored conntracks ($unloaded of $tried), views still consistent" \
	test "$tried" -gt 0 -a "$unloaded" = "$tried" -a "$rc" = 0
check "the family still answers" answers
check "nf_ckpt_ct unloads" rmmod nf_ckpt_ct
check "nf_ckpt_store unloads" rmmod nf_ckpt_store

sed 's/^/# /' "$pub/summaries"
ktap_finished
