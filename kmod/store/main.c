// SPDX-License-Identifier: GPL-2.0
/*
 * nf_ckpt_store: the checkpoint store.  Owns the generic-netlink family
 * "nf_ckpt".  Deliberately independent of nf_conntrack, so that it
 * outlives the firewall module, a conntrack flush and a reload of the
 * whole netfilter stack.
 *
 * This file: module parameters, the store identity (instance, highest
 * ID), the restorer slot, and module init/exit.
 */

#include <linux/module.h>
#include <linux/rwsem.h>
#include <linux/random.h>

#include "store.h"

unsigned long nf_ckpt_max_bytes __read_mostly = 256UL << 20;
module_param_named(max_bytes, nf_ckpt_max_bytes, ulong, 0644);
MODULE_PARM_DESC(max_bytes,
		 "Memory all records of all netns may hold, in bytes (default 256 MiB)");

unsigned long nf_ckpt_max_records __read_mostly = 4UL << 20;
module_param_named(max_records, nf_ckpt_max_records, ulong, 0644);
MODULE_PARM_DESC(max_records,
		 "Records all netns may hold together (default 4194304)");

/*
 * The share of a netns owned by a user namespace other than the initial
 * one: a container's root may LOAD records, and must not fill the store
 * for the host.  1/8 of the defaults above.
 */
unsigned long nf_ckpt_netns_max_bytes __read_mostly = 32UL << 20;
module_param_named(netns_max_bytes, nf_ckpt_netns_max_bytes, ulong, 0644);
MODULE_PARM_DESC(netns_max_bytes,
		 "Memory the records of a container's netns (user namespace not the initial one) may hold, in bytes; 0: no share (default 32 MiB)");

unsigned long nf_ckpt_netns_max_records __read_mostly = 512UL << 10;
module_param_named(netns_max_records, nf_ckpt_netns_max_records, ulong, 0644);
MODULE_PARM_DESC(netns_max_records,
		 "Records a container's netns may hold; 0: no share (default 524288)");

static u64 nf_ckpt_instance_id __ro_after_init;

/*
 * The restorer slot.  Restores hold the semaphore for reading, so that
 * those of different netns run side by side (the restorer serialises
 * those of one netns itself) and unregistering waits for every restore in
 * progress; the module reference keeps the restorer's code in place for
 * the duration of the call.
 */
static DECLARE_RWSEM(nf_ckpt_restorer_sem);
static const struct nf_ckpt_restorer *nf_ckpt_restorer;

u64 nf_ckpt_store_instance(void)
{
	return nf_ckpt_instance_id;
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_instance);

/*
 * IDs ------------------------------------------------------------------
 *
 * One counter per netns: what a container loads into its own store moves
 * its own counter and nobody else's.  The counter only moves forward, to
 * IDs up to NF_CKPT_ID_TRACK_MAX, so it can never wrap.
 */
u64 nf_ckpt_store_highest_id(struct net *net)
{
	return atomic64_read(&nf_ckpt_pernet(net)->highest);
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_highest_id);

void nf_ckpt_note_id(struct nf_ckpt_net *cn, u64 id)
{
	s64 cur = atomic64_read(&cn->highest);

	if (id > NF_CKPT_ID_TRACK_MAX)
		return;
	while ((u64)cur < id)
		if (atomic64_try_cmpxchg(&cn->highest, &cur, id))
			break;
}

void nf_ckpt_store_id_seen(struct net *net, u64 id)
{
	nf_ckpt_note_id(nf_ckpt_pernet(net), id);
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_id_seen);

u64 nf_ckpt_store_id_alloc(struct net *net)
{
	atomic64_t *highest = &nf_ckpt_pernet(net)->highest;
	s64 cur = atomic64_read(highest), id;

	do {
		id = cur + 1;
		/* Low word zero: never issued (see nf_ckpt_ct's labels). */
		if (!lower_32_bits(id))
			id++;
		if ((u64)id > NF_CKPT_ID_TRACK_MAX)
			return 0;
	} while (!atomic64_try_cmpxchg(highest, &cur, id));
	return id;
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_id_alloc);

int nf_ckpt_store_register_restorer(const struct nf_ckpt_restorer *r)
{
	int err = 0;

	if (!r || !r->restore)
		return -EINVAL;
	down_write(&nf_ckpt_restorer_sem);
	if (nf_ckpt_restorer)
		err = -EBUSY;
	else
		WRITE_ONCE(nf_ckpt_restorer, r);
	up_write(&nf_ckpt_restorer_sem);
	return err;
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_register_restorer);

void nf_ckpt_store_unregister_restorer(const struct nf_ckpt_restorer *r)
{
	down_write(&nf_ckpt_restorer_sem);
	if (nf_ckpt_restorer == r)
		WRITE_ONCE(nf_ckpt_restorer, NULL);
	up_write(&nf_ckpt_restorer_sem);
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_unregister_restorer);

bool nf_ckpt_restorer_present(void)
{
	return READ_ONCE(nf_ckpt_restorer);
}

/* Restores of different netns do not wait for each other. */
int nf_ckpt_call_restorer(struct net *net, u32 flags,
			  struct nf_ckpt_restore_stats *st,
			  struct netlink_ext_ack *extack)
{
	const struct nf_ckpt_restorer *r;
	int err;

	down_read(&nf_ckpt_restorer_sem);
	r = nf_ckpt_restorer;
	if (!r || !try_module_get(r->owner)) {
		up_read(&nf_ckpt_restorer_sem);
		NL_SET_ERR_MSG(extack, "nf_ckpt_ct is not loaded");
		return -EOPNOTSUPP;
	}
	err = r->restore(net, flags, st, extack);
	module_put(r->owner);
	up_read(&nf_ckpt_restorer_sem);
	return err;
}

static int __init nf_ckpt_store_init(void)
{
	int err;

	nf_ckpt_instance_id = get_random_u64();

	err = nf_ckpt_core_init();
	if (err)
		goto err_core;
	err = nf_ckpt_genl_init();
	if (err)
		goto err_genl;

	pr_info("store instance %016llx\n", nf_ckpt_instance_id);
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
