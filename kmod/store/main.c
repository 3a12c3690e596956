// SPDX-License-Identifier: GPL-2.0
/*
 * nf_ckpt_store: the checkpoint store.  Owns the generic-netlink family
 * "nf_ckpt".  Deliberately independent of nf_conntrack so that it outlives
 * the firewall module and the whole netfilter stack.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/random.h>
#include <net/genetlink.h>
#include <net/nf_ckpt_store.h>

static u64 nf_ckpt_instance_id __read_mostly;

static struct genl_family nf_ckpt_genl_family;

static int nf_ckpt_cmd_status(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	struct nlattr *nest;
	void *hdr;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &nf_ckpt_genl_family, 0,
				NF_CKPT_CMD_STATUS);
	if (!hdr)
		goto nla_put_failure;
	nest = nla_nest_start(msg, NF_CKPT_A_STATUS);
	if (!nest ||
	    nla_put_u64_64bit(msg, NF_CKPT_STAT_A_INSTANCE, nf_ckpt_instance_id,
			      NF_CKPT_STAT_A_PAD))
		goto nla_put_failure;
	nla_nest_end(msg, nest);
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

nla_put_failure:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

static const struct genl_ops nf_ckpt_genl_ops[] = {
	{
		.cmd	= NF_CKPT_CMD_STATUS,
		.doit	= nf_ckpt_cmd_status,
		.flags	= GENL_UNS_ADMIN_PERM,
	},
};

static struct genl_family nf_ckpt_genl_family __ro_after_init = {
	.name		= NF_CKPT_GENL_NAME,
	.version	= NF_CKPT_GENL_VERSION,
	.maxattr	= NF_CKPT_A_MAX,
	.netnsok	= true,
	.module		= THIS_MODULE,
	.ops		= nf_ckpt_genl_ops,
	.n_ops		= ARRAY_SIZE(nf_ckpt_genl_ops),
	.resv_start_op	= NF_CKPT_CMD_STATUS,
};

u64 nf_ckpt_store_instance(void)
{
	return nf_ckpt_instance_id;
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_instance);

static int __init nf_ckpt_store_init(void)
{
	int err;

	nf_ckpt_instance_id = get_random_u64();
	err = genl_register_family(&nf_ckpt_genl_family);
	if (err)
		return err;
	pr_info("store instance %016llx\n", nf_ckpt_instance_id);
	return 0;
}

static void __exit nf_ckpt_store_exit(void)
{
	genl_unregister_family(&nf_ckpt_genl_family);
}

module_init(nf_ckpt_store_init);
module_exit(nf_ckpt_store_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("nfckpt: persistent conntrack checkpoint store");
MODULE_ALIAS_GENL_FAMILY(NF_CKPT_GENL_NAME);
