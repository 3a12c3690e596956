// SPDX-License-Identifier: GPL-2.0
/*
 * nf_ckpt_store core: per-netns record tables, global limits, expiry and
 * the in-kernel API used by nf_ckpt_ct.
 *
 * Writers (nf_ckpt_ct from softirq, LOAD/FORGET/FLUSH, the reaper) lock
 * one stripe of nf_ckpt_locks[], chosen by (netns, ID), so that puts of
 * different connections run in parallel.  Readers (has, lookup, walk,
 * dumps) take no lock: they look the ID up under RCU, read packed layers
 * under the slot's seqcount and copy what they hand out.  The ordered
 * walk sorts a snapshot of the IDs of the netns.
 *
 * Accounting: a record costs the memory it is allocated (header plus
 * payload, rounded up to the slab size), a packed layer its part of the
 * slot (slot.c); a slot with no packed layer and the hash buckets are not
 * counted in bytes, but there is at most one slot per record.  An update
 * in place changes no cost and writes no shared counter.
 */

#include <linux/hash.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/rhashtable.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/netns/hash.h>

#include "store.h"

#define NF_CKPT_LOCK_BITS	10

/*
 * The reaper runs every NF_CKPT_REAP_INTERVAL while the netns holds
 * records with an expiry, and looks at NF_CKPT_REAP_MIN IDs or 1 /
 * NF_CKPT_REAP_SWEEP of the table, whichever is more, NF_CKPT_REAP_CHUNK
 * per RCU read section: a table of any size is swept every
 * NF_CKPT_REAP_SWEEP runs, one of fewer than NF_CKPT_REAP_MIN IDs every run.
 */
#define NF_CKPT_REAP_INTERVAL	HZ
#define NF_CKPT_REAP_MIN	4096
#define NF_CKPT_REAP_SWEEP	8
#define NF_CKPT_REAP_CHUNK	256

/* struct nf_ckpt_rec keeps the payload length in a u16. */
static_assert(NF_CKPT_MAX_PAYLOAD <= U16_MAX);

static spinlock_t nf_ckpt_locks[1 << NF_CKPT_LOCK_BITS];
static unsigned int nf_ckpt_net_id __read_mostly;
static atomic_long_t nf_ckpt_used_bytes = ATOMIC_LONG_INIT(0);
static atomic_long_t nf_ckpt_used_records = ATOMIC_LONG_INIT(0);

static const struct rhashtable_params nf_ckpt_slot_params = {
	.head_offset		= offsetof(struct nf_ckpt_slot, node),
	.key_offset		= offsetof(struct nf_ckpt_slot, id),
	.key_len		= sizeof(u64),
	.automatic_shrinking	= true,
};

struct nf_ckpt_net *nf_ckpt_pernet(const struct net *net)
{
	return net_generic(net, nf_ckpt_net_id);
}

static spinlock_t *nf_ckpt_lock(const struct net *net, u64 id)
{
	return &nf_ckpt_locks[hash_64(id ^ net_hash_mix(net),
				      NF_CKPT_LOCK_BITS)];
}

/* Limits ------------------------------------------------------------- */

static bool nf_ckpt_charge_one(atomic_long_t *used, long delta,
			       unsigned long limit)
{
	if (delta <= 0) {
		atomic_long_add(delta, used);
		return true;
	}
	if ((unsigned long)atomic_long_add_return(delta, used) <= limit)
		return true;
	atomic_long_sub(delta, used);
	return false;
}

/* A limit of 0 is none; only a container's netns has a share. */
static unsigned long nf_ckpt_share(const struct nf_ckpt_net *cn,
				   const unsigned long *param)
{
	unsigned long v = cn->capped ? READ_ONCE(*param) : 0;

	return v ?: ULONG_MAX;
}

/*
 * Take room for records/bytes (either may be negative) in the netns's
 * share and in the whole store.  Returns 0 or the limit that refused.
 */
static int nf_ckpt_charge(struct nf_ckpt_net *cn, long records, long bytes)
{
	if (!records && !bytes)
		return 0;
	if (!nf_ckpt_charge_one(&cn->used_records, records,
				nf_ckpt_share(cn, &nf_ckpt_netns_max_records)))
		return NF_CKPT_FULL_NETNS;
	if (!nf_ckpt_charge_one(&cn->used_bytes, bytes,
				nf_ckpt_share(cn, &nf_ckpt_netns_max_bytes)))
		goto undo_netns_records;
	if (!nf_ckpt_charge_one(&nf_ckpt_used_records, records,
				READ_ONCE(nf_ckpt_max_records)))
		goto undo_netns;
	if (nf_ckpt_charge_one(&nf_ckpt_used_bytes, bytes,
			       READ_ONCE(nf_ckpt_max_bytes)))
		return 0;
	atomic_long_sub(records, &nf_ckpt_used_records);
undo_netns:
	atomic_long_sub(bytes, &cn->used_bytes);
	atomic_long_sub(records, &cn->used_records);
	return NF_CKPT_FULL_STORE;
undo_netns_records:
	atomic_long_sub(records, &cn->used_records);
	return NF_CKPT_FULL_NETNS;
}

static void nf_ckpt_charge_force(struct nf_ckpt_net *cn, long records,
				 long bytes)
{
	if (!records && !bytes)
		return;
	atomic_long_add(records, &cn->used_records);
	atomic_long_add(bytes, &cn->used_bytes);
	atomic_long_add(records, &nf_ckpt_used_records);
	atomic_long_add(bytes, &nf_ckpt_used_bytes);
}

static void nf_ckpt_uncharge(struct nf_ckpt_net *cn, long records, long bytes)
{
	nf_ckpt_charge_force(cn, -records, -bytes);
}

/* Records ------------------------------------------------------------ */

static long nf_ckpt_cost(u32 len)
{
	return kmalloc_size_roundup(sizeof(struct nf_ckpt_rec) + len);
}

static long nf_ckpt_rec_cost(const struct nf_ckpt_rec *r)
{
	return nf_ckpt_cost(r->len);
}

/*
 * A new, unpublished record: expires_ms from now (0: never), last put
 * age_ms ago.  The caller has validated layer and payload.
 */
struct nf_ckpt_rec *nf_ckpt_rec_alloc(u16 layer, const void *data, u32 len,
				      u64 expires_ms, u64 age_ms, gfp_t gfp)
{
	u64 now = get_jiffies_64();
	struct nf_ckpt_rec *r;

	r = kmalloc(sizeof(*r) + len, gfp | __GFP_NOWARN);
	if (!r)
		return NULL;
	r->layer = layer;
	r->len = len;
	r->updated = now;
	if (age_ms)
		r->updated -= min(nf_ckpt_ms_to_jiffies(age_ms), now);
	r->expires = expires_ms ? now + nf_ckpt_ms_to_jiffies(expires_ms) : 0;
	if (len)
		memcpy(r->data, data, len);
	return r;
}

void nf_ckpt_rec_view(const struct nf_ckpt_rec *r, u64 id, u64 now,
		      struct nf_ckpt_rec_view *v)
{
	u64 expires = READ_ONCE(r->expires);

	v->id = id;
	v->layer = r->layer;
	v->len = r->len;
	v->payload = (const struct nlattr *)r->data;
	v->age_ms = time_after64(now, r->updated) ?
		    jiffies64_to_msecs(now - r->updated) : 0;
	v->expires_ms = 0;
	if (expires)
		v->expires_ms = time_after64(expires, now) ?
				max_t(u64, jiffies64_to_msecs(expires - now), 1) : 1;
}

/* Layers: packed in the slot or a record in its tail ----------------- */

static struct nf_ckpt_rec *nf_ckpt_tail_rec(const struct nf_ckpt_slot *c,
					    unsigned int i, spinlock_t *lock)
{
	struct nf_ckpt_tail *t;

	t = rcu_dereference_protected(c->tail, lockdep_is_held(lock));
	return t ? rcu_dereference_protected(t->rec[i], lockdep_is_held(lock)) :
		   NULL;
}

static bool nf_ckpt_is_packed(const struct nf_ckpt_slot *c, unsigned int i)
{
	return i < NF_CKPT_NPACKED && (c->packed & BIT(i));
}

static bool nf_ckpt_packed_expired(const struct nf_ckpt_slot *c,
				   unsigned int i, u64 now)
{
	return !time_before32((u32)now, READ_ONCE(c->expires[i]));
}

/* What layer i of c costs, whether it expires; under the ID's lock. */
static long nf_ckpt_layer_cost(const struct nf_ckpt_slot *c, unsigned int i,
			       spinlock_t *lock, bool *timed)
{
	struct nf_ckpt_rec *r;

	if (nf_ckpt_is_packed(c, i)) {
		*timed = true;
		return nf_ckpt_slot_cost(c, i);
	}
	r = nf_ckpt_tail_rec(c, i, lock);
	*timed = r && r->expires;
	return r ? nf_ckpt_rec_cost(r) : 0;
}

static bool nf_ckpt_layer_present(const struct nf_ckpt_slot *c,
				  unsigned int i, spinlock_t *lock)
{
	return nf_ckpt_is_packed(c, i) || nf_ckpt_tail_rec(c, i, lock);
}

static bool nf_ckpt_layer_expired(const struct nf_ckpt_slot *c,
				  unsigned int i, spinlock_t *lock, u64 now)
{
	struct nf_ckpt_rec *r;

	if (nf_ckpt_is_packed(c, i))
		return nf_ckpt_packed_expired(c, i, now);
	r = nf_ckpt_tail_rec(c, i, lock);
	return r && nf_ckpt_rec_expired(r, now);
}

/* Per-netns counters, layer index i entering (sign 1) or leaving (-1). */
static void nf_ckpt_account(struct nf_ckpt_net *cn, unsigned int i, long cost,
			    bool timed, int sign)
{
	this_cpu_add(cn->stats->records, sign);
	this_cpu_add(cn->stats->bytes, sign * cost);
	this_cpu_add(cn->stats->lrecords[i], sign);
	this_cpu_add(cn->stats->lbytes[i], sign * cost);
	if (timed)
		this_cpu_add(cn->stats->timed, sign);
}

/* Connections -------------------------------------------------------- */

static struct nf_ckpt_slot *nf_ckpt_slot_lookup(struct nf_ckpt_net *cn,
						u64 id)
{
	return rhashtable_lookup(&cn->conns, &id, nf_ckpt_slot_params);
}

struct nf_ckpt_slot *nf_ckpt_slot_find_rcu(struct net *net, u64 id)
{
	return nf_ckpt_slot_lookup(nf_ckpt_pernet(net), id);
}

/* Under the lock: take layer i out of c, without accounting. */
static void nf_ckpt_layer_clear(struct nf_ckpt_slot *c, unsigned int i,
				spinlock_t *lock)
{
	struct nf_ckpt_tail *t;
	struct nf_ckpt_rec *r;

	if (nf_ckpt_is_packed(c, i)) {
		write_seqcount_begin(&c->seq);
		c->packed &= ~BIT(i);
		write_seqcount_end(&c->seq);
		return;
	}
	t = rcu_dereference_protected(c->tail, lockdep_is_held(lock));
	r = t ? rcu_dereference_protected(t->rec[i], lockdep_is_held(lock)) :
		NULL;
	if (!r)
		return;
	RCU_INIT_POINTER(t->rec[i], NULL);
	kfree_rcu(r, rcu);
}

/*
 * Under the ID's lock, c being in the table: remove layer i of c.
 * Returns whether it had expired, or -ENOENT.
 */
static int nf_ckpt_unpublish(struct nf_ckpt_net *cn, struct nf_ckpt_slot *c,
			     unsigned int i, spinlock_t *lock, u64 now)
{
	bool expired, timed;
	long cost;

	if (!nf_ckpt_layer_present(c, i, lock))
		return -ENOENT;
	expired = nf_ckpt_layer_expired(c, i, lock, now);
	cost = nf_ckpt_layer_cost(c, i, lock, &timed);
	nf_ckpt_layer_clear(c, i, lock);
	nf_ckpt_account(cn, i, cost, timed, -1);
	nf_ckpt_uncharge(cn, 1, cost);
	if (expired)
		this_cpu_inc(cn->stats->expired);
	else
		this_cpu_inc(cn->stats->deletes);
	return expired;
}

static void nf_ckpt_tail_free_rcu(struct rcu_head *head)
{
	kfree(container_of(head, struct nf_ckpt_tail, rcu));
}

/* Under the ID's lock: drop c's tail if empty, c itself if then empty. */
static void nf_ckpt_slot_gc(struct nf_ckpt_net *cn, struct nf_ckpt_slot *c,
			    spinlock_t *lock)
{
	struct nf_ckpt_tail *t;
	unsigned int i;

	t = rcu_dereference_protected(c->tail, lockdep_is_held(lock));
	for (i = 0; t && i < NF_CKPT_NLAYERS; i++)
		if (rcu_access_pointer(t->rec[i]))
			return;
	if (t) {
		write_seqcount_begin(&c->seq);
		RCU_INIT_POINTER(c->tail, NULL);
		write_seqcount_end(&c->seq);
		call_rcu(&t->rcu, nf_ckpt_tail_free_rcu);
	}
	if (c->packed)
		return;
	rhashtable_remove_fast(&cn->conns, &c->node, nf_ckpt_slot_params);
	this_cpu_dec(cn->stats->conns);
	nf_ckpt_slot_free_rcu(c);
}

static void nf_ckpt_reap_kick(struct nf_ckpt_net *cn)
{
	if (!delayed_work_pending(&cn->reap_work))
		queue_delayed_work(system_power_efficient_wq, &cn->reap_work,
				   NF_CKPT_REAP_INTERVAL);
}

/*
 * Can the put go into a slot's packed fields?  Packed layers always
 * expire, within INT_MAX jiffies, and are younger than INT_MAX / 2.
 */
static bool nf_ckpt_req_packable(const struct nf_ckpt_put_req *q,
				 struct nf_ckpt_img *img)
{
	return q->layer - 1 < NF_CKPT_NPACKED && q->expires_ms &&
	       nf_ckpt_ms_to_jiffies(q->age_ms) < INT_MAX / 2 &&
	       nf_ckpt_slot_check(q->layer - 1, q->payload, q->len, img);
}

/* Is c's slot big enough for this payload (BASE v6 needs a v6 slot)? */
static bool nf_ckpt_req_fits(const struct nf_ckpt_put_req *q,
			     const struct nf_ckpt_slot *c)
{
	return c->v6 || !nf_ckpt_slot_needs_v6(q->layer, q->payload, q->len);
}

/* Under the lock: layer i of c packed from q (checked packable, fits). */
static void nf_ckpt_layer_set_packed(struct nf_ckpt_slot *c, unsigned int i,
				     const struct nf_ckpt_put_req *q,
				     const struct nf_ckpt_img *img,
				     spinlock_t *lock)
{
	u64 now = get_jiffies_64();
	u64 age = min(nf_ckpt_ms_to_jiffies(q->age_ms), now);
	struct nf_ckpt_tail *t;
	struct nf_ckpt_rec *old;

	write_seqcount_begin(&c->seq);
	nf_ckpt_slot_pack(c, i, img);
	c->updated[i] = (u32)(now - age);
	c->expires[i] = (u32)(now + nf_ckpt_ms_to_jiffies(q->expires_ms));
	c->packed |= BIT(i);
	/* The same section: readers see one form or the other. */
	t = rcu_dereference_protected(c->tail, lockdep_is_held(lock));
	old = t ? rcu_dereference_protected(t->rec[i], lockdep_is_held(lock)) :
		  NULL;
	if (old)
		RCU_INIT_POINTER(t->rec[i], NULL);
	write_seqcount_end(&c->seq);
	if (old)
		kfree_rcu(old, rcu);
}

/* Under the lock: layer i of c is r, c->tail present. */
static void nf_ckpt_layer_set_rec(struct nf_ckpt_slot *c, unsigned int i,
				  struct nf_ckpt_rec *r, spinlock_t *lock)
{
	struct nf_ckpt_tail *t;
	struct nf_ckpt_rec *old;

	t = rcu_dereference_protected(c->tail, lockdep_is_held(lock));
	old = rcu_dereference_protected(t->rec[i], lockdep_is_held(lock));
	write_seqcount_begin(&c->seq);
	rcu_assign_pointer(t->rec[i], r);
	if (i < NF_CKPT_NPACKED)
		c->packed &= ~BIT(i);
	write_seqcount_end(&c->seq);
	if (old)
		kfree_rcu(old, rcu);
}

/* What a put of q costs: the slot's share or a record. */
static long nf_ckpt_req_cost(const struct nf_ckpt_put_req *q,
			     const struct nf_ckpt_slot *c, bool pack)
{
	return pack ? nf_ckpt_slot_cost(c, q->layer - 1) : nf_ckpt_cost(q->len);
}

/*
 * Store q (validated) as layer q->layer of q->id, replacing what is
 * there, packed in the ID's slot where it can be, else as a record.
 * pre: what a LOAD batch already charged for it, or NULL to check the
 * limits here.
 */
static int nf_ckpt_publish(struct net *net, const struct nf_ckpt_put_req *q,
			   const struct nf_ckpt_load_item *pre, gfp_t gfp)
{
	struct nf_ckpt_net *cn = nf_ckpt_pernet(net);
	spinlock_t *lock = nf_ckpt_lock(net, q->id);
	long held_records = pre ? pre->drecords : 0;
	long held_bytes = pre ? pre->dbytes : 0;
	struct nf_ckpt_slot *c, *newc = NULL;
	struct nf_ckpt_tail *newt = NULL;
	unsigned int i = q->layer - 1;
	struct nf_ckpt_rec *r = NULL;
	struct nf_ckpt_rec_view v;
	long drecords, dbytes, oldcost;
	bool pack, packable, need_tail, timed, old, new;
	struct nf_ckpt_img img;
	u64 now;
	int err;

	packable = nf_ckpt_req_packable(q, &img);
	/* Allocate outside the lock whatever this put turns out to need. */
	for (;;) {
		rcu_read_lock();
		spin_lock_bh(lock);
		c = nf_ckpt_slot_lookup(cn, q->id) ?: newc;
		pack = c && packable && nf_ckpt_req_fits(q, c);
		need_tail = c && !pack && !newt && !rcu_access_pointer(c->tail);
		if (c && (pack || (r && !need_tail)))
			break;
		spin_unlock_bh(lock);
		rcu_read_unlock();
		err = -ENOMEM;
		if (!c) {
			newc = nf_ckpt_slot_alloc(q->layer, q->payload, q->len,
						  gfp);
			if (!newc)
				goto err_free;
			newc->id = q->id;
			continue;
		}
		if (!r) {
			r = nf_ckpt_rec_alloc(q->layer, q->payload, q->len,
					      q->expires_ms, q->age_ms, gfp);
			if (!r)
				goto err_free;
		}
		/* c may be gone now: only what was decided under the lock. */
		if (need_tail) {
			newt = kzalloc(sizeof(*newt), gfp | __GFP_NOWARN);
			if (!newt)
				goto err_free;
		}
	}

	new = c == newc;
	now = get_jiffies_64();
	old = !new && nf_ckpt_layer_present(c, i, lock);
	oldcost = old ? nf_ckpt_layer_cost(c, i, lock, &timed) : 0;
	drecords = old ? 0 : 1;
	dbytes = nf_ckpt_req_cost(q, c, pack) - oldcost;
	if (pre) {
		nf_ckpt_charge_force(cn, drecords - held_records,
				     dbytes - held_bytes);
	} else if (nf_ckpt_charge(cn, drecords, dbytes)) {
		this_cpu_inc(cn->stats->refused);
		err = -ENOSPC;
		goto err_unlock;
	}
	held_records = drecords;
	held_bytes = dbytes;

	if (new) {
		err = rhashtable_insert_fast(&cn->conns, &c->node,
					     nf_ckpt_slot_params);
		if (err)
			goto err_unlock;
		newc = NULL;
		this_cpu_inc(cn->stats->conns);
	}
	if (old) {
		if (nf_ckpt_layer_expired(c, i, lock, now)) {
			this_cpu_inc(cn->stats->expired);
			this_cpu_inc(cn->stats->puts);
		} else {
			this_cpu_inc(cn->stats->updates);
		}
		nf_ckpt_account(cn, i, oldcost, timed, -1);
	} else {
		this_cpu_inc(cn->stats->puts);
	}
	if (pack) {
		nf_ckpt_layer_set_packed(c, i, q, &img, lock);
		nf_ckpt_account(cn, i, dbytes + oldcost, true, 1);
	} else {
		if (!rcu_access_pointer(c->tail)) {
			rcu_assign_pointer(c->tail, newt);
			newt = NULL;
		}
		nf_ckpt_layer_set_rec(c, i, r, lock);
		nf_ckpt_account(cn, i, dbytes + oldcost, r->expires, 1);
		r = NULL;
	}
	/* A record that replaced a packed layer leaves nothing packed. */
	nf_ckpt_slot_gc(cn, c, lock);
	spin_unlock_bh(lock);

	nf_ckpt_note_id(cn, q->id);
	v.id = q->id;
	v.layer = q->layer;
	v.len = q->len;
	v.payload = q->payload;
	v.age_ms = q->age_ms;
	v.expires_ms = q->expires_ms;
	nf_ckpt_notify_put(net, &v);
	rcu_read_unlock();

	if (q->expires_ms)
		nf_ckpt_reap_kick(cn);
	if (newc)	/* another put made the slot meanwhile */
		nf_ckpt_slot_free(newc);
	kfree(newt);
	return 0;

err_unlock:
	spin_unlock_bh(lock);
	rcu_read_unlock();
err_free:
	nf_ckpt_uncharge(cn, held_records, held_bytes);
	if (newc)
		nf_ckpt_slot_free(newc);
	kfree(newt);
	kfree(r);
	return err;
}

/*
 * Remove the records of id, one layer or all (layer 0), and say so on the
 * events group.  0 if a live record was removed, else -ENOENT.
 */
static int nf_ckpt_remove(struct net *net, u64 id, u16 layer)
{
	struct nf_ckpt_net *cn = nf_ckpt_pernet(net);
	spinlock_t *lock = nf_ckpt_lock(net, id);
	unsigned int i, live = 0, gone = 0;
	u64 now = get_jiffies_64();
	struct nf_ckpt_slot *c;
	int ret;

	rcu_read_lock();
	spin_lock_bh(lock);
	c = nf_ckpt_slot_lookup(cn, id);
	if (c) {
		for (i = 0; i < NF_CKPT_NLAYERS; i++) {
			if (layer && i != layer - 1)
				continue;
			ret = nf_ckpt_unpublish(cn, c, i, lock, now);
			if (ret < 0)
				continue;
			gone++;
			if (!ret)
				live++;
		}
		if (gone)
			nf_ckpt_slot_gc(cn, c, lock);
	}
	spin_unlock_bh(lock);
	rcu_read_unlock();

	if (gone)
		nf_ckpt_notify_del(net, id, layer);
	return live ? 0 : -ENOENT;
}

/* The in-kernel API -------------------------------------------------- */

int nf_ckpt_store_put(struct net *net, u64 id, u16 layer, const void *payload,
		      u32 len, u64 expires_ms, gfp_t gfp)
{
	struct nf_ckpt_put_req q = {
		.id		= id,
		.layer		= layer,
		.len		= len,
		.payload	= payload,
		.expires_ms	= expires_ms,
	};
	int err;

	if (!id)
		return -EINVAL;
	err = nf_ckpt_validate_payload(layer, payload, len, NULL);
	if (err)
		return err;
	return nf_ckpt_publish(net, &q, NULL, gfp);
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_put);

int nf_ckpt_store_touch(struct net *net, u64 id, u64 expires_ms)
{
	struct nf_ckpt_net *cn = nf_ckpt_pernet(net);
	spinlock_t *lock = nf_ckpt_lock(net, id);
	u64 now = get_jiffies_64(), expires = 0, jexp = INT_MAX;
	struct nf_ckpt_slot *c;
	struct nf_ckpt_rec *r;
	bool found = false;
	unsigned int i;

	if (expires_ms) {
		jexp = nf_ckpt_ms_to_jiffies(expires_ms);
		expires = now + jexp;
	}

	rcu_read_lock();
	spin_lock_bh(lock);
	c = nf_ckpt_slot_lookup(cn, id);
	for (i = 0; c && i < NF_CKPT_NLAYERS; i++) {
		if (!nf_ckpt_layer_present(c, i, lock) ||
		    nf_ckpt_layer_expired(c, i, lock, now))
			continue;
		found = true;
		if (nf_ckpt_is_packed(c, i)) {
			/* Packed layers always expire: "never" is INT_MAX. */
			WRITE_ONCE(c->expires[i], (u32)(now + jexp));
			continue;
		}
		r = nf_ckpt_tail_rec(c, i, lock);
		/* Records are immutable but for this word. */
		if (!r->expires != !expires)
			this_cpu_add(cn->stats->timed, expires ? 1 : -1);
		WRITE_ONCE(r->expires, expires);
	}
	spin_unlock_bh(lock);
	rcu_read_unlock();

	if (found)
		nf_ckpt_reap_kick(cn);
	return found ? 0 : -ENOENT;
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_touch);

int nf_ckpt_store_del(struct net *net, u64 id, u16 layer)
{
	if (layer < 1 || layer > NF_CKPT_LAYER_MAX)
		return -EINVAL;
	return nf_ckpt_remove(net, id, layer);
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_del);

int nf_ckpt_store_forget(struct net *net, u64 id)
{
	return nf_ckpt_remove(net, id, 0);
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_forget);

bool nf_ckpt_store_has(struct net *net, u64 id)
{
	u64 now = get_jiffies_64();
	struct nf_ckpt_slot *c;
	bool found = false;
	unsigned int i;

	rcu_read_lock();
	c = nf_ckpt_slot_find_rcu(net, id);
	for (i = 0; c && !found && i < NF_CKPT_NLAYERS; i++)
		found = nf_ckpt_slot_live_rcu(c, i, now);
	rcu_read_unlock();
	return found;
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_has);

int nf_ckpt_snap_alloc(struct nf_ckpt_snap *s, gfp_t gfp)
{
	BUILD_BUG_ON(ARRAY_SIZE(s->v) != NF_CKPT_NLAYERS);
	s->n = 0;
	s->buf = kvmalloc(NF_CKPT_SNAP_BUF, gfp);
	return s->buf ? 0 : -ENOMEM;
}
EXPORT_SYMBOL_GPL(nf_ckpt_snap_alloc);

void nf_ckpt_snap_free(struct nf_ckpt_snap *s)
{
	kvfree(s->buf);
	s->buf = NULL;
}
EXPORT_SYMBOL_GPL(nf_ckpt_snap_free);

/* A copy of the live records of id, in layer order; returns how many. */
unsigned int nf_ckpt_snap_get(struct net *net, u64 id, struct nf_ckpt_snap *s)
{
	u64 now = get_jiffies_64();
	struct nf_ckpt_rec_view *v;
	struct nf_ckpt_slot *c;
	unsigned int i;
	u8 *buf;

	s->n = 0;
	rcu_read_lock();
	c = nf_ckpt_slot_find_rcu(net, id);
	for (i = 0; c && i < NF_CKPT_NLAYERS; i++) {
		v = &s->v[s->n];
		buf = s->buf + i * NF_CKPT_MAX_PAYLOAD;
		if (!nf_ckpt_slot_view(c, i, now, v, buf, NF_CKPT_MAX_PAYLOAD))
			continue;
		if ((const u8 *)v->payload != buf) {
			memcpy(buf, v->payload, v->len);
			v->payload = (const struct nlattr *)buf;
		}
		s->n++;
	}
	rcu_read_unlock();
	return s->n;
}

int nf_ckpt_store_get(struct net *net, u64 id, struct nf_ckpt_snap *s)
{
	return nf_ckpt_snap_get(net, id, s) ? 0 : -ENOENT;
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_get);

static int nf_ckpt_cmp_id(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* Give the CPU away now and then in loops over a million IDs. */
static void nf_ckpt_resched_every(size_t i)
{
	if (!(i & 0xffff))
		cond_resched();
}

/*
 * Sort n IDs.  sort() on a million IDs held a CPU for over 20 s under
 * TCG with no point to reschedule; an LSD radix sort by bytes does a few
 * linear passes, and skips the bytes all IDs share (most of them, the
 * IDs being counted up from 1).  Without memory for the second array,
 * the in-place sort() still gives the right order.
 */
static void nf_ckpt_sort_ids(u64 *ids, size_t n)
{
	unsigned int count[256], shift, d;
	size_t i, pos, sum;
	u64 *tmp, *src = ids, *dst;

	tmp = n > 1 ? kvmalloc_array(n, sizeof(*tmp), GFP_KERNEL) : NULL;
	if (!tmp) {
		sort(ids, n, sizeof(*ids), nf_ckpt_cmp_id, NULL);
		return;
	}
	dst = tmp;
	for (shift = 0; shift < 64; shift += 8) {
		memset(count, 0, sizeof(count));
		for (i = 0; i < n; i++) {
			count[(src[i] >> shift) & 0xff]++;
			nf_ckpt_resched_every(i);
		}
		if (count[(src[0] >> shift) & 0xff] == n)
			continue;	/* every ID has this byte */
		for (d = 0, sum = 0; d < 256; d++) {
			pos = sum;
			sum += count[d];
			count[d] = pos;
		}
		for (i = 0; i < n; i++) {
			dst[count[(src[i] >> shift) & 0xff]++] = src[i];
			nf_ckpt_resched_every(i);
		}
		swap(src, dst);
	}
	if (src != ids)
		memcpy(ids, src, n * sizeof(*ids));
	kvfree(tmp);
}

/*
 * The IDs of the netns, sorted, in a kvmalloc'ed array.  One RCU read
 * section for the whole table: an rhashtable walk that pauses may miss
 * entries removed meanwhile, and a walk must not miss any.  A resize
 * restarts the walk from the new table's start (duplicates, removed by
 * the sort).
 */
int nf_ckpt_snapshot_ids(struct net *net, u64 **idsp, size_t *np)
{
	struct nf_ckpt_net *cn = nf_ckpt_pernet(net);
	struct rhashtable_iter iter;
	struct nf_ckpt_slot *c;
	size_t cap, n, i, j;
	bool full;
	u64 *ids;

	cap = atomic_read(&cn->conns.nelems);
	cap += cap / 8 + 64;
	for (;;) {
		ids = kvmalloc_array(cap, sizeof(*ids), GFP_KERNEL);
		if (!ids)
			return -ENOMEM;
		n = 0;
		full = false;
		rhashtable_walk_enter(&cn->conns, &iter);
		rhashtable_walk_start(&iter);
		while ((c = rhashtable_walk_next(&iter))) {
			if (IS_ERR(c))
				continue;
			if (n == cap) {
				full = true;
				break;
			}
			ids[n++] = c->id;
			/* Seen twice across a resize: sorted out below. */
			if (!(n % 1024)) {
				rhashtable_walk_stop(&iter);
				cond_resched();
				rhashtable_walk_start(&iter);
			}
		}
		rhashtable_walk_stop(&iter);
		rhashtable_walk_exit(&iter);
		if (!full)
			break;
		kvfree(ids);
		if (fatal_signal_pending(current))
			return -EINTR;
		cap *= 2;
	}

	nf_ckpt_sort_ids(ids, n);
	for (i = j = 0; i < n; i++)
		if (!j || ids[j - 1] != ids[i])
			ids[j++] = ids[i];
	*idsp = ids;
	*np = j;
	return 0;
}

int nf_ckpt_store_iter_start(struct net *net, struct nf_ckpt_iter *it)
{
	might_sleep();
	it->net = net;
	it->ids = NULL;
	it->n = 0;
	it->pos = 0;
	return nf_ckpt_snapshot_ids(net, &it->ids, &it->n);
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_iter_start);

u64 nf_ckpt_store_iter_next(struct nf_ckpt_iter *it, struct nf_ckpt_snap *s)
{
	u64 id;

	while (it->pos < it->n) {
		id = it->ids[it->pos++];
		if (nf_ckpt_snap_get(it->net, id, s))
			return id;
		/* A flush meanwhile: a million IDs gone, skipped here. */
		nf_ckpt_resched_every(it->pos);
	}
	return 0;
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_iter_next);

void nf_ckpt_store_iter_stop(struct nf_ckpt_iter *it)
{
	kvfree(it->ids);
	it->ids = NULL;
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_iter_stop);

/* Admin commands ----------------------------------------------------- */

/*
 * LOAD: items are validated and sorted by (ID, layer), without
 * duplicates; their payloads point into the request.  All or nothing as
 * far as the exclusive check and the limits go.  Writers racing on the
 * same IDs are not excluded.
 */
int nf_ckpt_load_batch(struct net *net, struct nf_ckpt_load_item *items,
		       size_t n, bool excl, struct netlink_ext_ack *extack)
{
	struct nf_ckpt_net *cn = nf_ckpt_pernet(net);
	long records = 0, bytes = 0, oldcost;
	u64 now = get_jiffies_64();
	struct nf_ckpt_load_item *it;
	struct nf_ckpt_img img;
	struct nf_ckpt_slot *c;
	spinlock_t *lock;
	unsigned int li;
	bool old, timed, pack;
	size_t i, j;
	int err = 0;

	for (i = 0; i < n; i++) {
		it = &items[i];
		li = it->req.layer - 1;
		lock = nf_ckpt_lock(net, it->req.id);
		pack = nf_ckpt_req_packable(&it->req, &img);
		rcu_read_lock();
		spin_lock_bh(lock);
		c = nf_ckpt_slot_lookup(cn, it->req.id);
		old = c && nf_ckpt_layer_present(c, li, lock);
		if (old && excl && !nf_ckpt_layer_expired(c, li, lock, now)) {
			NL_SET_ERR_MSG(extack,
				       "a record of the message exists already");
			err = -EEXIST;
		}
		oldcost = old ? nf_ckpt_layer_cost(c, li, lock, &timed) : 0;
		/* A slot not there yet: as big as this payload needs. */
		if (pack && c && !nf_ckpt_req_fits(&it->req, c))
			pack = false;
		it->drecords = old ? 0 : 1;
		it->dbytes = (pack ? nf_ckpt_slot_cost_for(it->req.layer,
							    it->req.payload,
							    it->req.len, c) :
				     nf_ckpt_cost(it->req.len)) - oldcost;
		spin_unlock_bh(lock);
		rcu_read_unlock();
		if (err)
			return err;
		records += it->drecords;
		bytes += it->dbytes;
		cond_resched();
	}

	switch (nf_ckpt_charge(cn, records, bytes)) {
	case 0:
		break;
	case NF_CKPT_FULL_NETNS:
		this_cpu_add(cn->stats->refused, n);
		NL_SET_ERR_MSG(extack,
			       "this netns's share of the store is full (netns_max_bytes, netns_max_records)");
		return -ENOSPC;
	default:
		this_cpu_add(cn->stats->refused, n);
		NL_SET_ERR_MSG(extack,
			       "the store is full (max_bytes, max_records)");
		return -ENOSPC;
	}

	for (i = 0; i < n; i++) {
		it = &items[i];
		err = nf_ckpt_publish(net, &it->req, it, GFP_KERNEL_ACCOUNT);
		if (err) {
			for (j = i + 1; j < n; j++)
				nf_ckpt_uncharge(cn, items[j].drecords,
						 items[j].dbytes);
			NL_SET_ERR_MSG(extack, "out of memory, loaded in part");
			return err;
		}
		cond_resched();
	}
	return 0;
}

/* Forget every ID present when the flush starts. */
int nf_ckpt_flush(struct net *net)
{
	size_t n, i;
	u64 *ids;
	int err;

	err = nf_ckpt_snapshot_ids(net, &ids, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		nf_ckpt_remove(net, ids[i], 0);
		cond_resched();
	}
	kvfree(ids);
	return 0;
}

void nf_ckpt_stats_read(struct net *net, struct nf_ckpt_stats *st)
{
	struct nf_ckpt_net *cn = nf_ckpt_pernet(net);
	s64 conns = 0, records = 0, bytes = 0, timed = 0;
	s64 lrecords[NF_CKPT_NLAYERS] = {}, lbytes[NF_CKPT_NLAYERS] = {};
	unsigned int i;
	int cpu;

	memset(st, 0, sizeof(*st));
	for_each_possible_cpu(cpu) {
		const struct nf_ckpt_pcpu_stats *p = per_cpu_ptr(cn->stats, cpu);

		conns += READ_ONCE(p->conns);
		records += READ_ONCE(p->records);
		bytes += READ_ONCE(p->bytes);
		timed += READ_ONCE(p->timed);
		st->puts += READ_ONCE(p->puts);
		st->updates += READ_ONCE(p->updates);
		st->deletes += READ_ONCE(p->deletes);
		st->expired += READ_ONCE(p->expired);
		st->refused += READ_ONCE(p->refused);
		for (i = 0; i < NF_CKPT_NLAYERS; i++) {
			lrecords[i] += READ_ONCE(p->lrecords[i]);
			lbytes[i] += READ_ONCE(p->lbytes[i]);
		}
	}
	/* Sums of gauges read while they move may dip below zero. */
	st->conns = max_t(s64, conns, 0);
	st->records = max_t(s64, records, 0);
	st->bytes = max_t(s64, bytes, 0);
	st->timed = max_t(s64, timed, 0);
	for (i = 0; i < NF_CKPT_NLAYERS; i++) {
		st->lrecords[i] = max_t(s64, lrecords[i], 0);
		st->lbytes[i] = max_t(s64, lbytes[i], 0);
	}
}

/* Expiry ------------------------------------------------------------- */

/* Under RCU: free the expired records of c. */
static void nf_ckpt_reap_conn(struct nf_ckpt_net *cn, struct nf_ckpt_slot *c,
			      u64 now)
{
	unsigned long gone = 0;
	spinlock_t *lock;
	unsigned int i;
	u64 id = c->id;

	for (i = 0; i < NF_CKPT_NLAYERS; i++)
		if (nf_ckpt_slot_expired_rcu(c, i, now))
			break;
	if (i == NF_CKPT_NLAYERS)
		return;

	lock = nf_ckpt_lock(cn->net, id);
	spin_lock_bh(lock);
	/* c may have left the table meanwhile: then it holds no record. */
	for (i = 0; i < NF_CKPT_NLAYERS; i++) {
		if (nf_ckpt_layer_present(c, i, lock) &&
		    nf_ckpt_layer_expired(c, i, lock, now) &&
		    nf_ckpt_unpublish(cn, c, i, lock, now) > 0)
			gone |= BIT(i);
	}
	if (gone)
		nf_ckpt_slot_gc(cn, c, lock);
	spin_unlock_bh(lock);

	for_each_set_bit(i, &gone, NF_CKPT_NLAYERS)
		nf_ckpt_notify_del(cn->net, id, i + 1);
}

static bool nf_ckpt_has_timed(struct nf_ckpt_net *cn)
{
	s64 timed = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		timed += READ_ONCE(per_cpu_ptr(cn->stats, cpu)->timed);
	return timed > 0;
}

static void nf_ckpt_reap_work(struct work_struct *work)
{
	struct nf_ckpt_net *cn = container_of(to_delayed_work(work),
					      struct nf_ckpt_net, reap_work);
	unsigned int budget, done = 0, chunk;
	u64 now = get_jiffies_64();
	struct nf_ckpt_slot *c;
	bool end = false;

	budget = max_t(unsigned int, NF_CKPT_REAP_MIN,
		       atomic_read(&cn->conns.nelems) / NF_CKPT_REAP_SWEEP);
	while (!end && done < budget) {
		rhashtable_walk_start(&cn->reap_iter);
		for (chunk = 0; chunk < NF_CKPT_REAP_CHUNK; chunk++) {
			c = rhashtable_walk_next(&cn->reap_iter);
			if (IS_ERR(c))
				continue;
			if (!c) {
				end = true;
				break;
			}
			nf_ckpt_reap_conn(cn, c, now);
		}
		rhashtable_walk_stop(&cn->reap_iter);
		done += chunk;
		cond_resched();
	}
	if (end) {
		/* The next run starts a new sweep. */
		rhashtable_walk_exit(&cn->reap_iter);
		rhashtable_walk_enter(&cn->conns, &cn->reap_iter);
	}
	if (nf_ckpt_has_timed(cn))
		queue_delayed_work(system_power_efficient_wq, &cn->reap_work,
				   NF_CKPT_REAP_INTERVAL);
}

/* Network namespaces ------------------------------------------------- */

static int __net_init nf_ckpt_net_init(struct net *net)
{
	struct nf_ckpt_net *cn = nf_ckpt_pernet(net);
	int err;

	cn->net = net;
	/* A container's root may load records: it gets a share only. */
	cn->capped = net->user_ns != &init_user_ns;
	atomic64_set(&cn->highest, 0);
	cn->stats = alloc_percpu(struct nf_ckpt_pcpu_stats);
	if (!cn->stats)
		return -ENOMEM;
	err = rhashtable_init(&cn->conns, &nf_ckpt_slot_params);
	if (err)
		goto err_stats;
	rhashtable_walk_enter(&cn->conns, &cn->reap_iter);
	INIT_DELAYED_WORK(&cn->reap_work, nf_ckpt_reap_work);
	return 0;

err_stats:
	free_percpu(cn->stats);
	return err;
}

static void nf_ckpt_slot_destroy(void *ptr, void *arg)
{
	struct nf_ckpt_net *cn = arg;
	struct nf_ckpt_slot *c = ptr;
	struct nf_ckpt_tail *t;
	struct nf_ckpt_rec *r;
	unsigned int i;

	t = rcu_dereference_protected(c->tail, true);
	for (i = 0; i < NF_CKPT_NLAYERS; i++) {
		if (nf_ckpt_is_packed(c, i)) {
			nf_ckpt_uncharge(cn, 1, nf_ckpt_slot_cost(c, i));
			continue;
		}
		r = t ? rcu_dereference_protected(t->rec[i], true) : NULL;
		if (!r)
			continue;
		nf_ckpt_uncharge(cn, 1, nf_ckpt_rec_cost(r));
		kfree_rcu(r, rcu);
	}
	if (t)
		call_rcu(&t->rcu, nf_ckpt_tail_free_rcu);
	nf_ckpt_slot_free_rcu(c);
}

/*
 * The netns is gone: nothing puts into it any more (nf_ckpt_ct's pernet
 * exit ran before ours) and no socket of it can send a request.
 */
static void __net_exit nf_ckpt_net_exit(struct net *net)
{
	struct nf_ckpt_net *cn = nf_ckpt_pernet(net);

	cancel_delayed_work_sync(&cn->reap_work);
	rhashtable_walk_exit(&cn->reap_iter);
	rhashtable_free_and_destroy(&cn->conns, nf_ckpt_slot_destroy, cn);
	WARN_ON_ONCE(atomic_long_read(&cn->used_records) ||
		     atomic_long_read(&cn->used_bytes));
	free_percpu(cn->stats);
}

static struct pernet_operations nf_ckpt_net_ops = {
	.init	= nf_ckpt_net_init,
	.exit	= nf_ckpt_net_exit,
	.id	= &nf_ckpt_net_id,
	.size	= sizeof(struct nf_ckpt_net),
};

int nf_ckpt_core_init(void)
{
	unsigned int i;
	int err;

	for (i = 0; i < ARRAY_SIZE(nf_ckpt_locks); i++)
		spin_lock_init(&nf_ckpt_locks[i]);

	err = nf_ckpt_slot_init();
	if (err)
		return err;
	err = register_pernet_subsys(&nf_ckpt_net_ops);
	if (err)
		goto err_slot;
	return 0;

err_slot:
	nf_ckpt_slot_exit();
	return err;
}

void nf_ckpt_core_exit(void)
{
	unregister_pernet_subsys(&nf_ckpt_net_ops);
	rcu_barrier();	/* slots, tails and records freed after RCU */
	nf_ckpt_slot_exit();
}
