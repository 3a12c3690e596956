#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Both modules load and unload cleanly; the store stands alone: it loads
# while nf_conntrack is absent, does not depend on it, and registers the
# nf_ckpt generic-netlink family.
set -e
source "$(dirname "$0")/lib.sh"

require_modules_built
require_cmd genl modinfo

family_visible() {
	genl ctrl get name nf_ckpt >/dev/null 2>&1
}

depends_of() {
	modinfo -F depends "$1"
}

ktap_plan 10

deps=$(depends_of "$STORE_KO")
ktap_info "nf_ckpt_store depends: '${deps}'"
if [[ ,$deps, == *,nf_conntrack,* ]]; then
	fail "nf_ckpt_store does not depend on nf_conntrack"
else
	ok "nf_ckpt_store does not depend on nf_conntrack"
fi

deps=$(depends_of "$CT_KO")
if [[ ,$deps, == *,nf_ckpt_store,* && ,$deps, == *,nf_conntrack,* ]]; then
	ok "nf_ckpt_ct depends on nf_ckpt_store and nf_conntrack"
else
	fail "nf_ckpt_ct depends on nf_ckpt_store and nf_conntrack (got '$deps')"
fi

# Whatever ran before: nothing of nfckpt or conntrack loaded, so that the
# next check means it.
for m in nf_ckpt_ct nf_ckpt_store; do
	mod_loaded "$m" && rmmod "$m"
done
unload_with_holders nf_conntrack 2>/dev/null || true
check_not "nf_conntrack absent before the store loads" mod_loaded nf_conntrack

check "nf_ckpt_store loads without nf_conntrack" insmod "$STORE_KO"
at_exit "rmmod nf_ckpt_ct; rmmod nf_ckpt_store"
check_not "nf_conntrack still absent with the store loaded" mod_loaded nf_conntrack
check "generic netlink family nf_ckpt is registered" family_visible

modprobe nf_conntrack
check "nf_ckpt_ct loads on top of the store" insmod "$CT_KO"
check_not "the store cannot be removed while nf_ckpt_ct uses it" rmmod nf_ckpt_store 2>/dev/null

cycle() {
	local i
	for i in 1 2 3; do
		rmmod nf_ckpt_ct && insmod "$CT_KO" || return 1
	done
	rmmod nf_ckpt_ct && rmmod nf_ckpt_store
}
check "nf_ckpt_ct reloads three times, then both unload" cycle
check_not "family nf_ckpt is gone after the store unloads" family_visible

ktap_finished
