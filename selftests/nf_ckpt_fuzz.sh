#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Fuzzing the nf_ckpt generic-netlink family (issue #7) with
# nf_ckpt_fuzz.py: random and mutated requests of every command, bad
# headers and flags, bad attributes, mutations of real records, dumps
# abandoned halfway and several at once (see the script's header).
#   1. root, in a netns holding 200 connections: every record the kernel
#      accepted is applied to a model; at the end the store must equal the
#      model, and STATUS and every GET answer along the way must agree
#      with it;
#   2. nobody, then 3. root of a user namespace not owning the netns, on
#      the same records: no request accepted, the store byte-identical
#      afterwards (ckptctl save before and after);
#   4. root, nf_ckpt_ct loaded, an empty netns: records of random meaning
#      loaded and restored again and again (ctnetlink flushes between),
#      every RESTORE answer consistent; afterwards no conntrack is left
#      and both modules unload.
# After each run the family still answers (ckptctl status); the VM runner
# fails the run on any kernel splat.  Each run prints its seed and a
# summary (messages sent, rate).
#
# Short form (make check): 14300 messages.  NFCKPT_STRESS=1 (make stress):
# 100000 privileged ones, 117000 in all.  NFCKPT_FUZZ_SEED=S
# replays a run: run k uses seed S+k.
# shellcheck disable=SC2154 # $fz, $fr: set by netns_new
set -e
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

require_modules_built
require_cmd python3 setpriv unshare conntrack
[[ -x $CKPTCTL ]] || ktap_skip_all "ckptctl not built: make tools"

HERE=$(cd "$(dirname "$0")" && pwd)
# nobody and a user namespace's root run the fuzzer
reachable_copies "$HERE/nf_ckpt_fuzz.py"
FUZZ="$REACH/nf_ckpt_fuzz.py"

if [[ ${NFCKPT_STRESS:-0} == 1 ]]; then
	N_PRIV=100000 N_NOBODY=10000 N_USERNS=5000 N_RESTORE=2000
else
	N_PRIV=10000 N_NOBODY=2500 N_USERNS=1500 N_RESTORE=300
fi
seed=${NFCKPT_FUZZ_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}

ktap_plan 11
ktap_info "seed $seed (NFCKPT_FUZZ_SEED=$seed replays this test)"

tmp=$(mktemp -d)
chmod 755 "$tmp"
at_exit "rm -rf $tmp"

load_store
netns_new fz
python3 "$HERE/nf_ckpt.py" gen "$tmp/base.ckpt" 200
chmod 644 "$tmp/base.ckpt"
FZ() { ip netns exec "$fz" "$@"; }
# answers [NETNS]: ckptctl status works (its output, not check's, discarded)
answers() { ip netns exec "${1:-$fz}" "$CKPTCTL" status >/dev/null; }
FZ "$CKPTCTL" load "$tmp/base.ckpt" 2>/dev/null

# fuzz DESCRIPTION [WRAPPER...] -- ARGS: one run, its output indented
fuzz() {
	local desc=$1 wrap=() rc
	shift
	while [[ $1 != -- ]]; do wrap+=("$1"); shift; done
	shift
	"${wrap[@]}" python3 "$FUZZ" fuzz "$@" >"$tmp/fuzz.out" 2>&1 && rc=0 || rc=$?
	sed '/^#/!s/^/# /' "$tmp/fuzz.out"
	grep '^summary ' "$tmp/fuzz.out" >>"$tmp/summaries" || true
	if [[ $rc == 0 ]]; then ok "$desc"; else fail "$desc (exit $rc)"; fi
}

fuzz "root: $N_PRIV messages, the store equals the model of what was accepted" \
	ip netns exec "$fz" -- --mode priv --seed "$seed" --count $N_PRIV
check "the family still answers" answers

# The same records again for the unprivileged runs.
FZ "$CKPTCTL" flush
FZ "$CKPTCTL" load "$tmp/base.ckpt" 2>/dev/null
FZ "$CKPTCTL" save "$tmp/before.ckpt" 2>/dev/null
fuzz "nobody: $N_NOBODY messages, none accepted" \
	ip netns exec "$fz" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	-- --mode unpriv --seed $((seed + 1)) --count $N_NOBODY
fuzz "root of a user namespace not owning the netns: $N_USERNS messages, none accepted" \
	ip netns exec "$fz" unshare -U -r -- --mode unpriv --seed $((seed + 2)) --count $N_USERNS
FZ "$CKPTCTL" save "$tmp/after.ckpt" 2>/dev/null
if python3 "$FUZZ" same-records "$tmp/before.ckpt" "$tmp/after.ckpt" >"$tmp/same" 2>&1; then
	ok "the store is unchanged after the unprivileged runs"
else
	fail "the store is unchanged after the unprivileged runs"
fi
cat "$tmp/same"
check "the family still answers" answers

# Restore: nf_ckpt_ct, and the modules a restore may ask for, loaded first
# (a request_module() per record under TCG would take the whole budget).
load_ct
for m in nf_conntrack_netlink nf_nat nf_conntrack_ftp nf_nat_ftp nf_conntrack_sip \
	nf_nat_sip nf_conntrack_irc nf_conntrack_tftp; do
	mod_loaded "$m" && continue
	modprobe "$m" 2>/dev/null || { ktap_info "no module $m"; continue; }
	at_exit "rmmod $m"
done
netns_new fr
fuzz "root, nf_ckpt_ct loaded: $N_RESTORE messages of loads and restores" \
	ip netns exec "$fr" -- --mode restore --seed $((seed + 3)) --count $N_RESTORE
check "the family still answers" answers "$fr"
ip netns exec "$fr" conntrack -F 2>/dev/null || true
count0() { [[ $(ip netns exec "$fr" cat /proc/sys/net/netfilter/nf_conntrack_count) == 0 ]]; }
wait_until 20 count0 && rc=0 || rc=$?
check "no conntrack left once flushed" test $rc = 0
check "nf_ckpt_ct unloads" rmmod nf_ckpt_ct
check "nf_ckpt_store unloads" rmmod nf_ckpt_store

sed 's/^/# /' "$tmp/summaries"
ktap_finished
