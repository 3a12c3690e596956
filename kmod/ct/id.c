// SPDX-License-Identifier: GPL-2.0
/*
 * nf_ckpt_ct: connection IDs, their home in ct labels, the fallback table
 * for conntracks without labels, and the per-connection state table.
 */

#include <linux/bitops.h>
#include <linux/jhash.h>
#include <linux/slab.h>
#include <linux/sched.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <net/netfilter/nf_conntrack_labels.h>
#include <net/netfilter/nf_conntrack_zones.h>

#include "ct.h"

/*
 * The u32 words of labels->bits (as nf_connlabels_replace() sees them)
 * that hold ID bits 0..31 and 32..63.  Label bit 64 + k is ID bit k in
 * the bitops sense; only a 64-bit big-endian long swaps the two halves.
 */
#define NF_CKPT_ID_WORD_LO \
	((IS_ENABLED(CONFIG_CPU_BIG_ENDIAN) && BITS_PER_LONG == 64) ? 3 : 2)
#define NF_CKPT_ID_WORD_HI	(5 - NF_CKPT_ID_WORD_LO)
#define NF_CKPT_LABEL_WORDS	(NF_CT_LABELS_MAX_SIZE / sizeof(u32))

/* The fallback table: where a conntrack without labels keeps its ID. */
struct nf_ckpt_fb {
	struct rhash_head	node;
	struct nf_ckpt_fb_key	key;
	u64			id;
	u32			expires;	/* jiffies32 */
	struct rcu_head		rcu;
};

static const struct rhashtable_params nf_ckpt_conn_params = {
	.head_offset		= offsetof(struct nf_ckpt_conn, node),
	.key_offset		= offsetof(struct nf_ckpt_conn, id),
	.key_len		= sizeof(u64),
	.automatic_shrinking	= true,
};

static const struct rhashtable_params nf_ckpt_fb_params = {
	.head_offset		= offsetof(struct nf_ckpt_fb, node),
	.key_offset		= offsetof(struct nf_ckpt_fb, key),
	.key_len		= sizeof(struct nf_ckpt_fb_key),
	.automatic_shrinking	= true,
};

u64 nf_ckpt_ct_label_id(const struct nf_conn *ct)
{
	const struct nf_conn_labels *labels = nf_ct_labels_find(ct);
	const u32 *w;
	u32 lo, hi;

	if (!labels)
		return 0;
	w = (const u32 *)labels->bits;
	lo = READ_ONCE(w[NF_CKPT_ID_WORD_LO]);
	if (!lo)
		return 0;
	/* Pairs with the ordering of the two writes in set_label_id. */
	smp_rmb();
	hi = READ_ONCE(w[NF_CKPT_ID_WORD_HI]);
	return (u64)hi << 32 | lo;
}

static void nf_ckpt_labels_write_word(struct nf_conn *ct, unsigned int word,
				      u32 val)
{
	u32 data[NF_CKPT_LABEL_WORDS] = {}, mask[NF_CKPT_LABEL_WORDS] = {};

	/*
	 * Words whose mask is 0 keep their value (data is 0 there); all
	 * words are passed, as nf_connlabels_replace() zeroes the others.
	 */
	data[word] = val;
	mask[word] = ~0U;
	nf_connlabels_replace(ct, data, mask, NF_CKPT_LABEL_WORDS);
}

u64 nf_ckpt_ct_set_label_id(struct nf_conn *ct, u64 id)
{
	u64 cur;

	BUILD_BUG_ON(NF_CKPT_LABEL_ID_BIT != 64);
	BUILD_BUG_ON(NF_CT_LABELS_MAX_SIZE != 16);

	if (!nf_ct_labels_find(ct) || !lower_32_bits(id))
		return 0;

	/* Two writers (walk and packet path) must not mix their halves. */
	spin_lock_bh(&ct->lock);
	cur = nf_ckpt_ct_label_id(ct);
	if (!cur) {
		/* High word first: a reader trusts the ID once lo != 0. */
		nf_ckpt_labels_write_word(ct, NF_CKPT_ID_WORD_HI,
					  upper_32_bits(id));
		nf_ckpt_labels_write_word(ct, NF_CKPT_ID_WORD_LO,
					  lower_32_bits(id));
		cur = id;
	}
	spin_unlock_bh(&ct->lock);
	return cur;
}

static void nf_ckpt_fb_key_of(struct nf_ckpt_fb_key *k,
			      const struct nf_conn *ct)
{
	const struct nf_conntrack_tuple *t =
		&ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	const struct nf_conntrack_zone *zone = nf_ct_zone(ct);

	memset(k, 0, sizeof(*k));
	k->src = t->src.u3;
	k->dst = t->dst.u3;
	k->sport = t->src.u.all;
	k->dport = t->dst.u.all;
	k->l3num = t->src.l3num;
	k->protonum = t->dst.protonum;
	k->zone_id = zone->id;
	k->zone_dir = zone->dir;
}

u64 nf_ckpt_ct_id(struct nf_ckpt_ct_net *cn, const struct nf_conn *ct)
{
	struct nf_ckpt_fb_key key;
	struct nf_ckpt_fb *fb;
	u64 id;

	id = nf_ckpt_ct_label_id(ct);
	if (id || nf_ct_labels_find(ct))
		return id;

	nf_ckpt_fb_key_of(&key, ct);
	rcu_read_lock();
	fb = rhashtable_lookup(&cn->fallback, &key, nf_ckpt_fb_params);
	id = fb ? fb->id : 0;
	rcu_read_unlock();
	return id;
}

static u64 nf_ckpt_fb_assign(struct nf_ckpt_ct_net *cn, struct nf_conn *ct,
			     u64 *new)
{
	unsigned long left = nf_ckpt_ct_timeout_left(ct);
	struct nf_ckpt_fb *fb, *old;
	u64 id;

	*new = 0;
	fb = kzalloc(sizeof(*fb), GFP_ATOMIC | __GFP_NOWARN);
	if (!fb)
		return 0;
	nf_ckpt_fb_key_of(&fb->key, ct);
	fb->id = nf_ckpt_store_id_alloc(cn->net);
	*new = fb->id;
	if (!fb->id) {
		kfree(fb);
		return 0;
	}
	fb->expires = (u32)jiffies +
		      min_t(u64, (u64)left + nf_ckpt_grace_jiffies(), INT_MAX);

	rcu_read_lock();
	old = rhashtable_lookup_get_insert_fast(&cn->fallback, &fb->node,
						nf_ckpt_fb_params);
	if (IS_ERR(old)) {
		id = 0;
	} else if (old) {
		id = old->id;		/* someone else was first */
	} else {
		id = fb->id;
		fb = NULL;
	}
	rcu_read_unlock();
	kfree(fb);
	return id;
}

u64 nf_ckpt_ct_get_or_assign_id(struct nf_ckpt_ct_net *cn, struct nf_conn *ct,
				bool *fresh)
{
	u64 id = nf_ckpt_ct_id(cn, ct), new;

	if (fresh)
		*fresh = false;
	if (id)
		return id;
	if (nf_ct_labels_find(ct)) {
		new = nf_ckpt_store_id_alloc(cn->net);
		id = nf_ckpt_ct_set_label_id(ct, new);
	} else {
		id = nf_ckpt_fb_assign(cn, ct, &new);
	}
	if (fresh)
		*fresh = id && id == new;
	return id;
}

struct nf_ckpt_conn *nf_ckpt_conn_lookup(struct nf_ckpt_ct_net *cn, u64 id)
{
	return rhashtable_lookup(&cn->conns, &id, nf_ckpt_conn_params);
}

/* Caller holds rcu_read_lock(). */
struct nf_ckpt_conn *nf_ckpt_conn_get(struct nf_ckpt_ct_net *cn, u64 id)
{
	struct nf_ckpt_conn *c, *old;

	c = nf_ckpt_conn_lookup(cn, id);
	if (c)
		return c;

	c = kzalloc(sizeof(*c), GFP_ATOMIC | __GFP_NOWARN);
	if (!c)
		return NULL;
	c->id = id;
	spin_lock_init(&c->lock);
	c->expires = (u32)jiffies + nf_ckpt_grace_jiffies();

	old = rhashtable_lookup_get_insert_fast(&cn->conns, &c->node,
						nf_ckpt_conn_params);
	if (!old)
		return c;
	kfree(c);
	return IS_ERR(old) ? NULL : old;
}

void nf_ckpt_conn_remove(struct nf_ckpt_ct_net *cn, struct nf_ckpt_conn *c)
{
	if (!rhashtable_remove_fast(&cn->conns, &c->node, nf_ckpt_conn_params))
		kfree_rcu(c, rcu);
}

static bool nf_ckpt_expired32(u32 when)
{
	return (s32)((u32)jiffies - when) >= 0;
}

/*
 * A million entries took over 20 s under TCG: pause the walk now and
 * then.  An entry missed or seen twice because of the pause is harmless
 * here, the next GC run sees it.
 */
#define NF_CKPT_GC_BATCH	1024

static void nf_ckpt_gc_pause(struct rhashtable_iter *iter, unsigned int *n)
{
	if (++*n % NF_CKPT_GC_BATCH)
		return;
	rhashtable_walk_stop(iter);
	cond_resched();
	rhashtable_walk_start(iter);
}

/*
 * Drop the state of connections not written to for longer than their
 * conntrack could have lived, and fallback IDs nothing refers to.
 */
void nf_ckpt_conns_gc(struct nf_ckpt_ct_net *cn)
{
	struct rhashtable_iter iter;
	struct nf_ckpt_conn *c;
	struct nf_ckpt_fb *fb;
	unsigned int n = 0;

	rhashtable_walk_enter(&cn->conns, &iter);
	rhashtable_walk_start(&iter);
	while ((c = rhashtable_walk_next(&iter))) {
		if (IS_ERR(c)) {
			if (PTR_ERR(c) == -EAGAIN)
				continue;
			break;
		}
		if (nf_ckpt_expired32(READ_ONCE(c->expires)))
			nf_ckpt_conn_remove(cn, c);
		nf_ckpt_gc_pause(&iter, &n);
	}
	rhashtable_walk_stop(&iter);
	rhashtable_walk_exit(&iter);
	cond_resched();

	rhashtable_walk_enter(&cn->fallback, &iter);
	rhashtable_walk_start(&iter);
	while ((fb = rhashtable_walk_next(&iter))) {
		if (IS_ERR(fb)) {
			if (PTR_ERR(fb) == -EAGAIN)
				continue;
			break;
		}
		if (nf_ckpt_expired32(fb->expires) &&
		    !nf_ckpt_conn_lookup(cn, fb->id) &&
		    !rhashtable_remove_fast(&cn->fallback, &fb->node,
					    nf_ckpt_fb_params))
			kfree_rcu(fb, rcu);
		nf_ckpt_gc_pause(&iter, &n);
	}
	rhashtable_walk_stop(&iter);
	rhashtable_walk_exit(&iter);
}

int nf_ckpt_conns_init(struct nf_ckpt_ct_net *cn)
{
	int err;

	err = rhashtable_init(&cn->conns, &nf_ckpt_conn_params);
	if (err)
		return err;
	err = rhashtable_init(&cn->fallback, &nf_ckpt_fb_params);
	if (err)
		rhashtable_destroy(&cn->conns);
	return err;
}

static void nf_ckpt_free_entry(void *ptr, void *arg)
{
	kfree(ptr);
}

/* No hook, walk or GC may run any more. */
void nf_ckpt_conns_destroy(struct nf_ckpt_ct_net *cn)
{
	rhashtable_free_and_destroy(&cn->fallback, nf_ckpt_free_entry, NULL);
	rhashtable_free_and_destroy(&cn->conns, nf_ckpt_free_entry, NULL);
}

/*
 * A previous instance of this module may have left IDs in the labels of
 * conntracks beyond what the store remembers (a put that failed, a store
 * reloaded): tell the store of each netns about those of its conntracks,
 * so that it hands out none of them again.  The conntrack hash is global:
 * one walk, bucket by bucket as ctnetlink's dump does, for every netns.
 */
void nf_ckpt_ids_from_labels(void)
{
	struct nf_conntrack_tuple_hash *h;
	struct hlist_nulls_node *n;
	unsigned int bucket;
	spinlock_t *lockp;
	struct nf_conn *ct;
	u64 id;

	for (bucket = 0;; bucket++) {
		lockp = &nf_conntrack_locks[bucket % CONNTRACK_LOCKS];
		local_bh_disable();
		nf_conntrack_lock(lockp);
		if (bucket >= nf_conntrack_htable_size) {
			spin_unlock(lockp);
			local_bh_enable();
			break;
		}
		hlist_nulls_for_each_entry(h, n, &nf_conntrack_hash[bucket],
					   hnnode) {
			if (NF_CT_DIRECTION(h) != IP_CT_DIR_REPLY)
				continue;
			ct = nf_ct_tuplehash_to_ctrack(h);
			id = nf_ckpt_ct_label_id(ct);
			if (id)
				nf_ckpt_store_id_seen(nf_ct_net(ct), id);
		}
		spin_unlock(lockp);
		local_bh_enable();
		cond_resched();
	}
}
