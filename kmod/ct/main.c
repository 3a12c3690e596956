// SPDX-License-Identifier: GPL-2.0
/*
 * nf_ckpt_ct: the firewall module.  Gives every conntrack a connection ID
 * and mirrors its state, layer by layer, into nf_ckpt_store.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/nf_ckpt_store.h>

static int __init nf_ckpt_ct_init(void)
{
	pr_info("bound to store instance %016llx, conntrack buckets %u\n",
		nf_ckpt_store_instance(), nf_conntrack_htable_size);
	return 0;
}

static void __exit nf_ckpt_ct_exit(void)
{
}

module_init(nf_ckpt_ct_init);
module_exit(nf_ckpt_ct_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("nfckpt: conntrack checkpoint and restore");
