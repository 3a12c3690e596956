// SPDX-License-Identifier: GPL-2.0
/*
 * nf_ckpt_ct: the firewall module.  Gives every conntrack a connection ID
 * and mirrors its state, layer by layer, into nf_ckpt_store.
 *
 * Unloading stops the mirroring and leaves the records in the store; the
 * IDs stay in the conntracks' labels, so a reload picks them up again.
 */

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_labels.h>

#include "ct.h"

unsigned int nf_ckpt_update_interval_ms __read_mostly = 1000;
module_param_named(update_interval_ms, nf_ckpt_update_interval_ms, uint, 0644);
MODULE_PARM_DESC(update_interval_ms,
		 "Least time between two rate-limited updates (windows, timeouts) of a connection");

unsigned int nf_ckpt_grace_ms __read_mostly = 60000;
module_param_named(grace_ms, nf_ckpt_grace_ms, uint, 0644);
MODULE_PARM_DESC(grace_ms,
		 "How long records outlive their conntrack's timeout");

bool nf_ckpt_restore __read_mostly = true;
module_param_named(restore, nf_ckpt_restore, bool, 0644);
MODULE_PARM_DESC(restore,
		 "Reassemble the conntracks of the store when the module loads");

bool nf_ckpt_relearn_assist __read_mostly = true;
module_param_named(relearn_assist, nf_ckpt_relearn_assist, bool, 0644);
MODULE_PARM_DESC(relearn_assist,
		 "Keep what the first segments after a restore acknowledge while conntrack re-learns TCP windows (0: conntrack alone)");

bool nf_ckpt_checkpoint_handshake __read_mostly;
module_param_named(checkpoint_handshake, nf_ckpt_checkpoint_handshake, bool, 0644);
MODULE_PARM_DESC(checkpoint_handshake,
		 "Checkpoint conntracks from their first packet (0: once worth restoring: TCP/UDP/SCTP ASSURED, others SEEN_REPLY)");

/* How often the per-connection state of gone conntracks is reaped. */
#define NF_CKPT_GC_INTERVAL	(10 * HZ)

static unsigned int nf_ckpt_ct_net_id __read_mostly;

struct nf_ckpt_ct_net *nf_ckpt_ct_pernet(const struct net *net)
{
	return net_generic(net, nf_ckpt_ct_net_id);
}

static void nf_ckpt_gc_work(struct work_struct *work)
{
	struct nf_ckpt_ct_net *cn = container_of(to_delayed_work(work),
						 struct nf_ckpt_ct_net,
						 gc_work);

	nf_ckpt_conns_gc(cn);
	queue_delayed_work(system_power_efficient_wq, &cn->gc_work,
			   NF_CKPT_GC_INTERVAL);
}

/* dmesg's names of the reply's counters, in the order printed. */
static const struct {
	u8		attr;
	const char	*name;
} nf_ckpt_res_log[] = {
	{ NF_CKPT_RES_A_RESTORED,	"restored" },
	{ NF_CKPT_RES_A_EXISTING,	"existing" },
	{ NF_CKPT_RES_A_EXPECTS,	"expectations" },
	{ NF_CKPT_RES_A_FAILED,		"failed" },
	{ NF_CKPT_RES_A_FAIL_NOMEM,	"nomem" },
	{ NF_CKPT_RES_A_FAIL_NOSPC,	"nospc" },
	{ NF_CKPT_RES_A_FAIL_HELPER,	"helper" },
	{ NF_CKPT_RES_A_FAIL_NAT,	"nat" },
	{ NF_CKPT_RES_A_FAIL_INVAL,	"inval" },
	{ NF_CKPT_RES_A_FAIL_OTHER,	"other" },
	{ NF_CKPT_RES_A_FAIL_EXPECT,	"expect" },
};

/* "restored 1, existing 0, ..., failed 0 (nomem 0 ... expect 0)" */
static void nf_ckpt_restore_log(struct net *net,
				const struct nf_ckpt_restore_stats *st, int err)
{
	bool any = err, fail;
	char buf[256];
	size_t i, n = 0;
	u32 v;

	for (i = 0; i < ARRAY_SIZE(nf_ckpt_res_log); i++) {
		u8 a = nf_ckpt_res_log[i].attr;

		fail = BIT(a) & NF_CKPT_RES_FAIL_MASK;
		v = a == NF_CKPT_RES_A_FAILED ? nf_ckpt_restore_failed(st) :
						st->v[a];
		if (a != NF_CKPT_RES_A_EXPECTS && v)
			any = true;
		n += scnprintf(buf + n, sizeof(buf) - n, "%s%s %u",
			       !i ? "" : a == NF_CKPT_RES_A_FAIL_NOMEM ? " (" :
			       fail ? " " : ", ", nf_ckpt_res_log[i].name, v);
	}
	if (any)
		pr_info("netns %u: %s)%s\n", net->ns.inum, buf,
			err ? ", walk stopped early" : "");
}

static void nf_ckpt_restore_at_load(struct net *net)
{
	struct nf_ckpt_restore_stats st = {};
	int err;

	err = nf_ckpt_restore_net(net, false, false, &st);
	nf_ckpt_restore_log(net, &st, err);
}

static int nf_ckpt_restore_cmd(struct net *net, u32 flags,
			       struct nf_ckpt_restore_stats *st,
			       struct netlink_ext_ack *extack)
{
	int err;

	/* Only the host's root makes the host run modprobe. */
	err = nf_ckpt_restore_net(net, flags & NF_CKPT_RESTORE_F_DRY_RUN,
				  net->user_ns == &init_user_ns, st);
	if (err)
		NL_SET_ERR_MSG(extack, "restore stopped early");
	return err;
}

static const struct nf_ckpt_restorer nf_ckpt_restorer_ops = {
	.owner		= THIS_MODULE,
	.restore	= nf_ckpt_restore_cmd,
};

static int __net_init nf_ckpt_ct_net_init(struct net *net)
{
	struct nf_ckpt_ct_net *cn = nf_ckpt_ct_pernet(net);
	int err;

	cn->net = net;
	atomic_set(&cn->errors, 0);
	mutex_init(&cn->restore_lock);
	nf_ckpt_relearn_net_init(cn);
	INIT_DELAYED_WORK(&cn->gc_work, nf_ckpt_gc_work);
	err = nf_ckpt_conns_init(cn);
	if (err)
		return err;

	/* From now on every new conntrack of net gets a labels extension. */
	err = nf_connlabels_get(net, NF_CT_LABELS_MAX_SIZE * BITS_PER_BYTE - 1);
	if (err)
		goto err_conns;
	cn->labels = true;

	err = nf_ckpt_hooks_register(net);
	if (err)
		goto err_labels;
	cn->hooks = true;

	/*
	 * Hooks first, so that nothing the restore misses goes unrecorded;
	 * then what the store holds, before insmod returns.  IDs and a first
	 * checkpoint for what the table held before the hooks (not the
	 * restored conntracks: their records are current) come from
	 * walk.c's first walk, in the
	 * background (at a million conntracks it took about a minute under
	 * TCG; pernet_ops_rwsem, held across ->init, would stop every netns
	 * creation and exit meanwhile).
	 */
	if (READ_ONCE(nf_ckpt_restore))
		nf_ckpt_restore_at_load(net);
	nf_ckpt_walk_net_live(cn, true);

	queue_delayed_work(system_power_efficient_wq, &cn->gc_work,
			   NF_CKPT_GC_INTERVAL);
	return 0;

err_labels:
	nf_connlabels_put(net);
	cn->labels = false;
err_conns:
	nf_ckpt_conns_destroy(cn);
	return err;
}

static void __net_exit nf_ckpt_ct_net_exit(struct net *net)
{
	struct nf_ckpt_ct_net *cn = nf_ckpt_ct_pernet(net);

	if (cn->hooks)
		nf_ckpt_hooks_unregister(net);
	cn->hooks = false;
}

static void __net_exit nf_ckpt_ct_net_exit_batch(struct list_head *net_list)
{
	struct net *net;

	/* Packets in flight through the hooks unregistered by ->exit. */
	synchronize_net();

	list_for_each_entry(net, net_list, exit_list) {
		struct nf_ckpt_ct_net *cn = nf_ckpt_ct_pernet(net);

		nf_ckpt_walk_net_live(cn, false);
		cancel_delayed_work_sync(&cn->gc_work);
		if (cn->labels)
			nf_connlabels_put(net);
		cn->labels = false;
		nf_ckpt_conns_destroy(cn);
		if (atomic_read(&cn->errors))
			pr_debug("netns %u: %d checkpoint writes failed\n",
				 net->ns.inum, atomic_read(&cn->errors));
	}
}

static struct pernet_operations nf_ckpt_ct_net_ops = {
	.init		= nf_ckpt_ct_net_init,
	.exit		= nf_ckpt_ct_net_exit,
	.exit_batch	= nf_ckpt_ct_net_exit_batch,
	.id		= &nf_ckpt_ct_net_id,
	.size		= sizeof(struct nf_ckpt_ct_net),
};

static int __init nf_ckpt_ct_init(void)
{
	int err;

	err = nf_ckpt_encode_init();
	if (err)
		return err;

	nf_ckpt_relearn_init();
	/* Before any netns hands out an ID. */
	nf_ckpt_ids_from_labels();

	err = register_pernet_subsys(&nf_ckpt_ct_net_ops);
	if (err)
		goto err_encode;

	err = nf_ckpt_store_register_restorer(&nf_ckpt_restorer_ops);
	if (err)
		goto err_pernet;
	/* Every netns that was there has its hooks now. */
	nf_ckpt_walk_start();

	pr_info("bound to store instance %016llx, update interval %u ms, grace %u ms\n",
		nf_ckpt_store_instance(), nf_ckpt_update_interval_ms,
		nf_ckpt_grace_ms);
	return 0;

err_pernet:
	unregister_pernet_subsys(&nf_ckpt_ct_net_ops);
	rcu_barrier();
err_encode:
	nf_ckpt_encode_exit();
	return err;
}

static void __exit nf_ckpt_ct_exit(void)
{
	/* Waits for a restore in progress. */
	nf_ckpt_store_unregister_restorer(&nf_ckpt_restorer_ops);
	nf_ckpt_walk_stop();
	unregister_pernet_subsys(&nf_ckpt_ct_net_ops);
	/* kfree_rcu() of per-connection state queued by the GC. */
	rcu_barrier();
	nf_ckpt_encode_exit();
}

module_init(nf_ckpt_ct_init);
module_exit(nf_ckpt_ct_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("nfckpt: conntrack checkpoint and restore");
