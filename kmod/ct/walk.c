// SPDX-License-Identifier: GPL-2.0
/*
 * nf_ckpt_ct: walks of the conntrack table.
 *
 * One work item walks the whole (global) table for every netns at once:
 *   - first, once after the module loaded: IDs and a first checkpoint for
 *     the conntracks that were there before the hooks (not for those the
 *     hooks wrote meanwhile, nor for those a restore re-created from
 *     their records: they have an entry, see nf_ckpt_walk_known()).  A netns created
 *     later has no conntrack before its hooks are in place and needs none
 *     (a walk per netns would cost netns x table).
 *   - then every NF_CKPT_OFFLOAD_INTERVAL, only the conntracks with
 *     IPS_OFFLOAD: a flow in a flowtable skips the netfilter hooks, so
 *     nothing else rewrites its records while it lives.  The timeout of
 *     an offloaded conntrack is kept about a day ahead (6.1: at
 *     flow_offload_add() and by conntrack's GC; 6.12: by the flowtable's
 *     GC); the rewrite carries it into the records' expiry.  Records are
 *     written with at least grace_ms + update_interval_ms to live (61 s by
 *     default) on top of the timeout left, so the walk catches them in
 *     time.
 *
 * How: under rcu_read_lock(), up to NF_CKPT_WALK_BUCKETS buckets are read
 * locklessly (hlist_nulls, as conntrack's lookups do) and references to
 * at most NF_CKPT_WALK_BATCH wanted conntracks taken; then, with no RCU
 * read section and no conntrack lock held, each of them is checkpointed
 * and put.  nf_ct_iterate_cleanup_net() would run the checkpoints (which
 * allocate, write labels, may multicast) under a bucket lock with BH off,
 * and hold nf_conntrack_mutex for the whole walk: helper and NAT module
 * unload and netns exit would wait for it.  The checkpoint itself stays
 * atomic (GFP_ATOMIC): it encodes into a per-CPU buffer with BH off and
 * under the connection's spinlock, shared with the packet path.
 *
 * The table: conntrack reads nf_conntrack_hash and nf_conntrack_htable_size
 * under the nf_conntrack_generation seqcount, which is not exported.
 * nf_conntrack_lock() on any bucket lock excludes a resize (it takes
 * them all), so the pair read under one is consistent; the old table is
 * freed after a grace period, so it stays readable to the end of the RCU
 * read section it was read in.  A resize moves entries between buckets:
 * the first walk starts over if the table changed between two sections
 * (an entry checkpointed twice is harmless), the periodic walk goes on
 * (what it misses, the next one sees).
 *
 * A netns is left alone once its ->exit_batch began: the walk checks
 * cn->live under nf_ckpt_walk_mutex, held for the checkpoints of one
 * batch.  The references held keep the netns's conntrack exit (after
 * ours) waiting, so cn's memory lives as long as the batch does.
 */

#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/workqueue.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <linux/rculist_nulls.h>

#include "ct.h"

#define NF_CKPT_WALK_BATCH	64
#define NF_CKPT_WALK_BUCKETS	256	/* per RCU read section, at most */
#define NF_CKPT_OFFLOAD_INTERVAL	(10 * HZ)

struct nf_ckpt_walk {
	struct delayed_work	work;
	bool			offload_only;	/* the first walk is done */
	unsigned int		n;
	struct nf_conn		*ct[NF_CKPT_WALK_BATCH];
};

static struct nf_ckpt_walk nf_ckpt_walker;

/* Guards nf_ckpt_ct_net.live. */
static DEFINE_MUTEX(nf_ckpt_walk_mutex);

static bool nf_ckpt_walk_wants(const struct nf_ckpt_walk *w,
			       const struct nf_conn *ct)
{
	if (w->offload_only && !test_bit(IPS_OFFLOAD_BIT, &ct->status))
		return false;
	return nf_ct_is_confirmed(ct) && !nf_ct_is_dying(ct);
}

/* The table and its size, consistent.  Caller holds rcu_read_lock(). */
static unsigned int nf_ckpt_walk_table(struct hlist_nulls_head **hash)
{
	spinlock_t *lockp = &nf_conntrack_locks[0];
	unsigned int size;

	local_bh_disable();
	nf_conntrack_lock(lockp);
	*hash = nf_conntrack_hash;
	size = nf_conntrack_htable_size;
	spin_unlock(lockp);
	local_bh_enable();
	return size;
}

static void nf_ckpt_walk_drop(struct nf_ckpt_walk *w, unsigned int from)
{
	while (w->n > from)
		nf_ct_put(w->ct[--w->n]);
}

/*
 * Take references to the wanted conntracks of one chain, those after
 * *resume if it is still there (all of them otherwise: one seen twice is
 * harmless).  Returns false if the batch filled first; *resume then holds
 * a reference to the last one taken.  Caller holds rcu_read_lock().
 */
static bool nf_ckpt_walk_chain(struct nf_ckpt_walk *w,
			       struct hlist_nulls_head *hash,
			       unsigned int bucket, struct nf_conn **resume)
{
	struct nf_conn *ct, *after = *resume, *last;
	struct nf_conntrack_tuple_hash *h;
	struct hlist_nulls_node *n;
	unsigned int n0 = w->n;

restart:
	hlist_nulls_for_each_entry_rcu(h, n, &hash[bucket], hnnode) {
		/*
		 * Each conntrack once, by the reply tuple as conntrack's own
		 * iterator does: a NAT clash entry has only that one.
		 */
		if (NF_CT_DIRECTION(h) != IP_CT_DIR_REPLY)
			continue;
		ct = nf_ct_tuplehash_to_ctrack(h);
		if (after) {
			if (ct == after)
				after = NULL;
			continue;
		}
		if (!nf_ckpt_walk_wants(w, ct))
			continue;
		if (w->n == NF_CKPT_WALK_BATCH) {
			/* Nothing taken here yet: the resume point stays. */
			if (w->n > n0) {
				last = w->ct[w->n - 1];
				nf_conntrack_get(&last->ct_general);
				nf_ct_put(*resume);
				*resume = last;
			}
			return false;
		}
		if (!refcount_inc_not_zero(&ct->ct_general.use))
			continue;
		/* Read status after the reference, as early_drop_list(). */
		smp_acquire__after_ctrl_dep();
		/* SLAB_TYPESAFE_BY_RCU: it may be another conntrack by now. */
		if (!nf_ckpt_walk_wants(w, ct)) {
			nf_ct_put(ct);
			continue;
		}
		w->ct[w->n++] = ct;
	}
	if (get_nulls_value(n) != bucket) {
		/* An entry moved to another chain under us: this one again. */
		nf_ckpt_walk_drop(w, n0);
		after = *resume;
		goto restart;
	}
	if (after) {
		/* The resume point left the chain: all of it. */
		after = NULL;
		goto restart;
	}
	nf_ct_put(*resume);
	*resume = NULL;
	return true;
}

/*
 * Has ct been accounted for since the module loaded?  Every conntrack
 * with an entry was either written in full by hooks.c (an entry is only
 * created to write) or re-created by a restore from records that are
 * current (restore.c): the first walk checkpoints neither again.
 */
static bool nf_ckpt_walk_known(struct nf_ckpt_ct_net *cn,
			       const struct nf_conn *ct)
{
	bool known;
	u64 id;

	rcu_read_lock();
	id = nf_ckpt_ct_id(cn, ct);
	known = id && nf_ckpt_conn_lookup(cn, id);
	rcu_read_unlock();
	return known;
}

/* The checkpoints of the batch, no conntrack lock or RCU held. */
static void nf_ckpt_walk_flush(struct nf_ckpt_walk *w)
{
	struct nf_ckpt_ct_net *cn;
	struct nf_conn *ct;
	unsigned int i;

	mutex_lock(&nf_ckpt_walk_mutex);
	for (i = 0; i < w->n; i++) {
		ct = w->ct[i];
		cn = nf_ckpt_ct_pernet(nf_ct_net(ct));
		if (cn->live && !nf_ct_is_dying(ct) && !nf_ct_is_expired(ct)) {
			if (w->offload_only)
				nf_ckpt_ct_refresh(cn, ct);
			else if (!nf_ckpt_walk_known(cn, ct))
				nf_ckpt_ct_checkpoint(cn, ct);
		}
		cond_resched();
	}
	mutex_unlock(&nf_ckpt_walk_mutex);
	nf_ckpt_walk_drop(w, 0);
}

static void nf_ckpt_walk(struct nf_ckpt_walk *w)
{
	struct hlist_nulls_head *hash, *seen = NULL;
	struct nf_conn *resume = NULL;
	unsigned int bucket = 0, size, end;

	for (;;) {
		rcu_read_lock();
		size = nf_ckpt_walk_table(&hash);
		if (seen && hash != seen && !w->offload_only) {
			/* Resized: entries moved to buckets already walked. */
			bucket = 0;
			nf_ct_put(resume);
			resume = NULL;
		}
		seen = hash;
		end = min(size, bucket + NF_CKPT_WALK_BUCKETS);
		for (; bucket < end; bucket++)
			if (!nf_ckpt_walk_chain(w, hash, bucket, &resume))
				break;
		rcu_read_unlock();
		nf_ckpt_walk_flush(w);
		if (bucket >= size)
			break;
		cond_resched();
	}
	nf_ct_put(resume);
}

static void nf_ckpt_walk_work(struct work_struct *work)
{
	struct nf_ckpt_walk *w = container_of(to_delayed_work(work),
					      struct nf_ckpt_walk, work);

	nf_ckpt_walk(w);
	w->offload_only = true;
	queue_delayed_work(system_unbound_wq, &w->work,
			   NF_CKPT_OFFLOAD_INTERVAL);
}

void nf_ckpt_walk_net_live(struct nf_ckpt_ct_net *cn, bool live)
{
	mutex_lock(&nf_ckpt_walk_mutex);
	cn->live = live;
	mutex_unlock(&nf_ckpt_walk_mutex);
}

void nf_ckpt_walk_start(void)
{
	nf_ckpt_walker.offload_only = false;
	nf_ckpt_walker.n = 0;
	INIT_DELAYED_WORK(&nf_ckpt_walker.work, nf_ckpt_walk_work);
	queue_delayed_work(system_unbound_wq, &nf_ckpt_walker.work, 0);
}

void nf_ckpt_walk_stop(void)
{
	cancel_delayed_work_sync(&nf_ckpt_walker.work);
}
