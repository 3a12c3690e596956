// SPDX-License-Identifier: GPL-2.0
/*
 * nf_ckpt_store: the checkpoint store.  Owns the generic-netlink family
 * "nf_ckpt".  Deliberately independent of nf_conntrack, so that it
 * outlives the firewall module, a conntrack flush and a reload of the
 * whole netfilter stack.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>

#include "store.h"

static int __init nf_ckpt_store_init(void)
{
	int err;

	err = nf_ckpt_core_init();
	if (err)
		goto err_core;
	err = nf_ckpt_genl_init();
	if (err)
		goto err_genl;
	pr_info("store instance %016llx\n", nf_ckpt_store_instance());
	return 0;

err_genl:
	nf_ckpt_core_exit();
err_core:
	return err;
}

static void __exit nf_ckpt_store_exit(void)
{
	nf_ckpt_genl_exit();
	nf_ckpt_core_exit();
}

module_init(nf_ckpt_store_init);
module_exit(nf_ckpt_store_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("nfckpt: persistent conntrack checkpoint store");
MODULE_ALIAS_GENL_FAMILY(NF_CKPT_GENL_NAME);
