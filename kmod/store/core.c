// SPDX-License-Identifier: GPL-2.0
/*
 * nf_ckpt_store core: per-netns record tables, limits, expiry and the
 * in-kernel API used by nf_ckpt_ct.
 *
 * Each netns keeps an rbtree of connection IDs under one spinlock.  Writers
 * are nf_ckpt_ct's rate-limited checkpoints and admin commands; readers
 * (dumps, walks, restore) hold the lock only long enough to take
 * references on one ID's records, so neither side stalls packet processing
 * for long.  Records are immutable and refcounted: an update publishes a
 * new record and drops the old one.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/slab.h>
#include <linux/sched/signal.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "store.h"

unsigned long nf_ckpt_max_bytes __read_mostly = 256UL << 20;
module_param_named(max_bytes, nf_ckpt_max_bytes, ulong, 0644);
MODULE_PARM_DESC(max_bytes, "Limit on bytes held by all records of all netns");

unsigned long nf_ckpt_max_records __read_mostly = 4UL << 20;
module_param_named(max_records, nf_ckpt_max_records, ulong, 0644);
MODULE_PARM_DESC(max_records, "Limit on records held in all netns");

static unsigned int nf_ckpt_reap_interval_ms __read_mostly = 1000;
module_param_named(reap_interval_ms, nf_ckpt_reap_interval_ms, uint, 0644);
MODULE_PARM_DESC(reap_interval_ms, "How often expired records are reaped");

/* Conns examined per lock hold, and per reaper run. */
#define NF_CKPT_REAP_BATCH	64
#define NF_CKPT_REAP_BUDGET	16384

static unsigned int nf_ckpt_net_id __read_mostly;
static atomic64_t nf_ckpt_total_bytes = ATOMIC64_INIT(0);
static atomic64_t nf_ckpt_total_records = ATOMIC64_INIT(0);
static atomic64_t nf_ckpt_highest = ATOMIC64_INIT(0);
static u64 nf_ckpt_instance_id __read_mostly;

static DEFINE_MUTEX(nf_ckpt_restorer_lock);
static const struct nf_ckpt_restorer *nf_ckpt_restorer;

struct nf_ckpt_net *nf_ckpt_pernet(const struct net *net)
{
	return net_generic(net, nf_ckpt_net_id);
}

u64 nf_ckpt_store_instance(void)
{
	return nf_ckpt_instance_id;
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_instance);

u64 nf_ckpt_store_highest_id(void)
{
	return atomic64_read(&nf_ckpt_highest);
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_highest_id);

void nf_ckpt_note_id(u64 id)
{
	s64 cur = atomic64_read(&nf_ckpt_highest);

	while ((u64)cur < id) {
		s64 old = atomic64_cmpxchg(&nf_ckpt_highest, cur, id);

		if (old == cur)
			break;
		cur = old;
	}
}

u32 nf_ckpt_rec_cost(const struct nf_ckpt_rec *r)
{
	return sizeof(*r) + r->len;
}

struct nf_ckpt_rec *nf_ckpt_rec_alloc(u64 id, u16 layer, const void *data,
				      u32 len, u64 expires_ms, u64 age_ms,
				      gfp_t gfp)
{
	struct nf_ckpt_rec *r;

	r = kmalloc(struct_size(r, data, len), gfp | __GFP_NOWARN);
	if (!r)
		return NULL;
	refcount_set(&r->ref, 1);
	r->id = id;
	r->layer = layer;
	r->len = len;
	memcpy(r->data, data, len);
	age_ms = min_t(u64, age_ms, jiffies_to_msecs(jiffies - INITIAL_JIFFIES));
	r->updated = jiffies - msecs_to_jiffies(age_ms);
	r->expires = 0;
	if (expires_ms)
		r->expires = (jiffies + msecs_to_jiffies(expires_ms)) ?: 1;
	return r;
}

void nf_ckpt_rec_put(struct nf_ckpt_rec *r)
{
	if (r && refcount_dec_and_test(&r->ref))
		kfree(r);
}

void nf_ckpt_rec_view(const struct nf_ckpt_rec *r, struct nf_ckpt_rec_view *v)
{
	unsigned long now = jiffies;

	v->id = r->id;
	v->layer = r->layer;
	v->len = r->len;
	v->payload = (const struct nlattr *)r->data;
	v->age_ms = jiffies_to_msecs(now - r->updated);
	v->expires_ms = 0;
	if (r->expires)
		v->expires_ms = time_before(now, r->expires) ?
				jiffies_to_msecs(r->expires - now) : 1;
}

/* Reserve room under the global limits; undone by nf_ckpt_unreserve(). */
static int nf_ckpt_reserve(s64 bytes, s64 records)
{
	if (atomic64_add_return(bytes, &nf_ckpt_total_bytes) >
	    (s64)READ_ONCE(nf_ckpt_max_bytes) && bytes > 0)
		goto undo_bytes;
	if (atomic64_add_return(records, &nf_ckpt_total_records) >
	    (s64)READ_ONCE(nf_ckpt_max_records) && records > 0)
		goto undo_records;
	return 0;

undo_records:
	atomic64_sub(records, &nf_ckpt_total_records);
undo_bytes:
	atomic64_sub(bytes, &nf_ckpt_total_bytes);
	return -ENOSPC;
}

static void nf_ckpt_unreserve(s64 bytes, s64 records)
{
	atomic64_sub(bytes, &nf_ckpt_total_bytes);
	atomic64_sub(records, &nf_ckpt_total_records);
}

static struct nf_ckpt_conn *nf_ckpt_conn_find(struct nf_ckpt_net *cn, u64 id)
{
	struct rb_node *n = cn->conns.rb_node;

	while (n) {
		struct nf_ckpt_conn *c = rb_entry(n, struct nf_ckpt_conn, node);

		if (id < c->id)
			n = n->rb_left;
		else if (id > c->id)
			n = n->rb_right;
		else
			return c;
	}
	return NULL;
}

/* First conn whose ID is > after (or >= after when inclusive). */
static struct nf_ckpt_conn *nf_ckpt_conn_next(struct nf_ckpt_net *cn, u64 after,
					      bool inclusive)
{
	struct rb_node *n = cn->conns.rb_node;
	struct nf_ckpt_conn *best = NULL;

	while (n) {
		struct nf_ckpt_conn *c = rb_entry(n, struct nf_ckpt_conn, node);

		if (c->id > after || (inclusive && c->id == after)) {
			best = c;
			n = n->rb_left;
		} else {
			n = n->rb_right;
		}
	}
	return best;
}

static void nf_ckpt_conn_link(struct nf_ckpt_net *cn, struct nf_ckpt_conn *new)
{
	struct rb_node **p = &cn->conns.rb_node, *parent = NULL;

	while (*p) {
		struct nf_ckpt_conn *c = rb_entry(*p, struct nf_ckpt_conn, node);

		parent = *p;
		p = new->id < c->id ? &(*p)->rb_left : &(*p)->rb_right;
	}
	rb_link_node(&new->node, parent, p);
	rb_insert_color(&new->node, &cn->conns);
	cn->stats.connections++;
}

static bool nf_ckpt_conn_empty(const struct nf_ckpt_conn *c)
{
	int l;

	for (l = 1; l <= NF_CKPT_LAYER_MAX; l++)
		if (c->rec[l])
			return false;
	return true;
}

static void nf_ckpt_conn_unlink(struct nf_ckpt_net *cn, struct nf_ckpt_conn *c)
{
	rb_erase(&c->node, &cn->conns);
	cn->stats.connections--;
	kfree(c);
}

static void nf_ckpt_stats_add(struct nf_ckpt_net *cn, const struct nf_ckpt_rec *r,
			      int sign)
{
	s64 cost = (s64)sign * nf_ckpt_rec_cost(r);

	cn->stats.records += sign;
	cn->stats.bytes += cost;
	cn->stats.layer[r->layer].records += sign;
	cn->stats.layer[r->layer].bytes += cost;
}

/*
 * Install r in c, returning the record it replaces (to be put by the caller
 * outside the lock).  The caller has reserved r's cost.
 */
static struct nf_ckpt_rec *nf_ckpt_install(struct nf_ckpt_net *cn,
					   struct nf_ckpt_conn *c,
					   struct nf_ckpt_rec *r)
{
	struct nf_ckpt_rec *old = c->rec[r->layer];

	if (old) {
		nf_ckpt_stats_add(cn, old, -1);
		nf_ckpt_unreserve(nf_ckpt_rec_cost(old), 1);
		cn->stats.updates++;
	} else {
		cn->stats.puts++;
	}
	c->rec[r->layer] = r;
	nf_ckpt_stats_add(cn, r, 1);
	return old;
}

/* Remove one layer; returns the record to put outside the lock. */
static struct nf_ckpt_rec *nf_ckpt_remove(struct nf_ckpt_net *cn,
					  struct nf_ckpt_conn *c, u16 layer)
{
	struct nf_ckpt_rec *old = c->rec[layer];

	if (!old)
		return NULL;
	c->rec[layer] = NULL;
	nf_ckpt_stats_add(cn, old, -1);
	nf_ckpt_unreserve(nf_ckpt_rec_cost(old), 1);
	return old;
}

static bool nf_ckpt_valid_layer(u16 layer)
{
	return layer >= NF_CKPT_LAYER_BASE && layer <= NF_CKPT_LAYER_MAX;
}

int nf_ckpt_store_put(struct net *net, u64 id, u16 layer, const void *payload,
		      u32 len, u64 expires_ms, gfp_t gfp)
{
	struct nf_ckpt_net *cn = nf_ckpt_pernet(net);
	struct nf_ckpt_rec *r, *old;
	struct nf_ckpt_conn *c, *spare;
	int err;

	if (!id || !nf_ckpt_valid_layer(layer) || len > NF_CKPT_MAX_PAYLOAD)
		return -EINVAL;
	err = nf_ckpt_validate_payload(layer, payload, len, NULL);
	if (err)
		return err;

	r = nf_ckpt_rec_alloc(id, layer, payload, len, expires_ms, 0, gfp);
	spare = kzalloc(sizeof(*spare), gfp | __GFP_NOWARN);
	if (!r || !spare) {
		err = -ENOMEM;
		goto err_free;
	}

	spin_lock_bh(&cn->lock);
	if (nf_ckpt_reserve(nf_ckpt_rec_cost(r), 1)) {
		cn->stats.refused++;
		spin_unlock_bh(&cn->lock);
		err = -ENOSPC;
		goto err_free;
	}
	c = nf_ckpt_conn_find(cn, id);
	if (!c) {
		c = spare;
		spare = NULL;
		c->id = id;
		nf_ckpt_conn_link(cn, c);
	}
	refcount_inc(&r->ref);	/* for the event below */
	old = nf_ckpt_install(cn, c, r);
	spin_unlock_bh(&cn->lock);

	nf_ckpt_note_id(id);
	nf_ckpt_notify_put(net, r);
	nf_ckpt_rec_put(r);
	nf_ckpt_rec_put(old);
	kfree(spare);
	return 0;

err_free:
	kfree(spare);
	kfree(r);
	return err;
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_put);

int nf_ckpt_store_touch(struct net *net, u64 id, u64 expires_ms)
{
	struct nf_ckpt_net *cn = nf_ckpt_pernet(net);
	unsigned long expires = 0;
	struct nf_ckpt_conn *c;
	int l, err = -ENOENT;

	if (expires_ms)
		expires = (jiffies + msecs_to_jiffies(expires_ms)) ?: 1;

	spin_lock_bh(&cn->lock);
	c = nf_ckpt_conn_find(cn, id);
	for (l = 1; c && l <= NF_CKPT_LAYER_MAX; l++) {
		if (c->rec[l] && nf_ckpt_rec_live(c->rec[l])) {
			/* Records are immutable but for this one word. */
			WRITE_ONCE(c->rec[l]->expires, expires);
			err = 0;
		}
	}
	spin_unlock_bh(&cn->lock);
	return err;
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_touch);

static int nf_ckpt_delete(struct net *net, u64 id, int layer)
{
	struct nf_ckpt_net *cn = nf_ckpt_pernet(net);
	struct nf_ckpt_rec *gone[NF_CKPT_LAYER_MAX + 1] = {};
	struct nf_ckpt_conn *c;
	int l, n = 0;

	spin_lock_bh(&cn->lock);
	c = nf_ckpt_conn_find(cn, id);
	if (c) {
		for (l = 1; l <= NF_CKPT_LAYER_MAX; l++) {
			if (layer && l != layer)
				continue;
			gone[l] = nf_ckpt_remove(cn, c, l);
			if (gone[l]) {
				n++;
				cn->stats.deletes++;
			}
		}
		if (nf_ckpt_conn_empty(c))
			nf_ckpt_conn_unlink(cn, c);
	}
	spin_unlock_bh(&cn->lock);

	if (!n)
		return -ENOENT;
	nf_ckpt_notify_del(net, id, layer);
	for (l = 1; l <= NF_CKPT_LAYER_MAX; l++)
		nf_ckpt_rec_put(gone[l]);
	return 0;
}

int nf_ckpt_store_del(struct net *net, u64 id, u16 layer)
{
	if (!nf_ckpt_valid_layer(layer))
		return -EINVAL;
	return nf_ckpt_delete(net, id, layer);
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_del);

int nf_ckpt_store_forget(struct net *net, u64 id)
{
	return nf_ckpt_delete(net, id, 0);
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_forget);

bool nf_ckpt_store_has(struct net *net, u64 id)
{
	struct nf_ckpt_net *cn = nf_ckpt_pernet(net);
	struct nf_ckpt_conn *c;
	bool found = false;
	int l;

	spin_lock_bh(&cn->lock);
	c = nf_ckpt_conn_find(cn, id);
	for (l = 1; c && l <= NF_CKPT_LAYER_MAX && !found; l++)
		found = c->rec[l] && nf_ckpt_rec_live(c->rec[l]);
	spin_unlock_bh(&cn->lock);
	return found;
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_has);

/*
 * Take references on the live records of the first ID after `after` (or of
 * exactly `after` when exact).  IDs whose records all expired are skipped.
 */
int nf_ckpt_snap_next(struct nf_ckpt_net *cn, u64 after, bool exact,
		      struct nf_ckpt_snap *s)
{
	struct nf_ckpt_conn *c;
	int l;

	s->n = 0;
	spin_lock_bh(&cn->lock);
	c = exact ? nf_ckpt_conn_find(cn, after) : nf_ckpt_conn_next(cn, after, false);
	while (c) {
		for (l = 1; l <= NF_CKPT_LAYER_MAX; l++) {
			struct nf_ckpt_rec *r = c->rec[l];

			if (r && nf_ckpt_rec_live(r)) {
				refcount_inc(&r->ref);
				s->rec[s->n++] = r;
			}
		}
		s->id = c->id;
		if (s->n || exact)
			break;
		c = nf_ckpt_conn_next(cn, c->id, false);
	}
	spin_unlock_bh(&cn->lock);
	return s->n ? 0 : -ENOENT;
}

void nf_ckpt_snap_release(struct nf_ckpt_snap *s)
{
	while (s->n)
		nf_ckpt_rec_put(s->rec[--s->n]);
}

static int nf_ckpt_snap_call(struct net *net, struct nf_ckpt_snap *s,
			     nf_ckpt_conn_fn fn, void *arg)
{
	struct nf_ckpt_rec_view v[NF_CKPT_LAYER_MAX];
	unsigned int i;

	for (i = 0; i < s->n; i++)
		nf_ckpt_rec_view(s->rec[i], &v[i]);
	return fn(net, s->id, v, s->n, arg);
}

int nf_ckpt_store_lookup(struct net *net, u64 id, nf_ckpt_conn_fn fn, void *arg)
{
	struct nf_ckpt_snap s;
	int err;

	err = nf_ckpt_snap_next(nf_ckpt_pernet(net), id, true, &s);
	if (err)
		return err;
	err = nf_ckpt_snap_call(net, &s, fn, arg);
	nf_ckpt_snap_release(&s);
	return err;
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_lookup);

int nf_ckpt_store_walk(struct net *net, nf_ckpt_conn_fn fn, void *arg)
{
	struct nf_ckpt_net *cn = nf_ckpt_pernet(net);
	struct nf_ckpt_snap s;
	u64 cursor = 0;
	int err = 0;

	while (!nf_ckpt_snap_next(cn, cursor, false, &s)) {
		cursor = s.id;
		err = nf_ckpt_snap_call(net, &s, fn, arg);
		nf_ckpt_snap_release(&s);
		if (err < 0)
			break;
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		cond_resched();
	}
	return err < 0 ? err : 0;
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_walk);

/*
 * LOAD: all records of one message or none.  recs[] are unpublished; on
 * success they belong to the store, on failure to the caller.
 */
int nf_ckpt_insert_batch(struct net *net, struct nf_ckpt_rec **recs,
			 unsigned int n, bool excl,
			 struct netlink_ext_ack *extack)
{
	struct nf_ckpt_net *cn = nf_ckpt_pernet(net);
	struct nf_ckpt_conn **spare, *c;
	struct nf_ckpt_rec **old;
	unsigned int i, nspare = 0;
	s64 bytes = 0;
	int err = 0;

	spare = kvcalloc(n, sizeof(*spare), GFP_KERNEL);
	old = kvcalloc(n, sizeof(*old), GFP_KERNEL);
	if (!spare || !old) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		spare[i] = kzalloc(sizeof(*spare[i]), GFP_KERNEL);
		if (!spare[i]) {
			err = -ENOMEM;
			goto out;
		}
		nspare++;
		bytes += nf_ckpt_rec_cost(recs[i]);
	}

	spin_lock_bh(&cn->lock);
	if (excl) {
		for (i = 0; i < n; i++) {
			c = nf_ckpt_conn_find(cn, recs[i]->id);
			if (c && c->rec[recs[i]->layer]) {
				spin_unlock_bh(&cn->lock);
				NL_SET_ERR_MSG_MOD(extack,
						   "a record of this message already exists");
				err = -EEXIST;
				goto out;
			}
		}
	}
	if (nf_ckpt_reserve(bytes, n)) {
		cn->stats.refused += n;
		spin_unlock_bh(&cn->lock);
		NL_SET_ERR_MSG_MOD(extack, "store is full (max_bytes / max_records)");
		err = -ENOSPC;
		goto out;
	}
	for (i = 0; i < n; i++) {
		c = nf_ckpt_conn_find(cn, recs[i]->id);
		if (!c) {
			c = spare[--nspare];
			spare[nspare] = NULL;
			c->id = recs[i]->id;
			nf_ckpt_conn_link(cn, c);
		}
		old[i] = nf_ckpt_install(cn, c, recs[i]);
	}
	spin_unlock_bh(&cn->lock);

	for (i = 0; i < n; i++) {
		nf_ckpt_note_id(recs[i]->id);
		nf_ckpt_notify_put(net, recs[i]);
		nf_ckpt_rec_put(old[i]);
	}
out:
	if (spare)
		for (i = 0; i < n; i++)
			kfree(spare[i]);
	kvfree(spare);
	kvfree(old);
	return err;
}

/* Detach the whole tree under the lock, free it outside. */
static struct rb_root nf_ckpt_detach_all(struct nf_ckpt_net *cn)
{
	struct rb_root root;
	int l;

	spin_lock_bh(&cn->lock);
	root = cn->conns;
	cn->conns = RB_ROOT;
	cn->reap_cursor = 0;
	cn->stats.deletes += cn->stats.records;
	cn->stats.connections = 0;
	cn->stats.records = 0;
	cn->stats.bytes = 0;
	for (l = 0; l <= NF_CKPT_LAYER_MAX; l++)
		cn->stats.layer[l] = (struct nf_ckpt_layer_stats){};
	spin_unlock_bh(&cn->lock);
	return root;
}

static unsigned int nf_ckpt_free_tree(struct net *net, struct rb_root *root,
				      bool notify)
{
	struct nf_ckpt_conn *c, *tmp;
	unsigned int n = 0;
	int l;

	rbtree_postorder_for_each_entry_safe(c, tmp, root, node) {
		for (l = 1; l <= NF_CKPT_LAYER_MAX; l++) {
			if (!c->rec[l])
				continue;
			nf_ckpt_unreserve(nf_ckpt_rec_cost(c->rec[l]), 1);
			nf_ckpt_rec_put(c->rec[l]);
			n++;
		}
		if (notify)
			nf_ckpt_notify_del(net, c->id, 0);
		kfree(c);
		cond_resched();
	}
	return n;
}

unsigned int nf_ckpt_flush(struct net *net)
{
	struct rb_root root = nf_ckpt_detach_all(nf_ckpt_pernet(net));

	return nf_ckpt_free_tree(net, &root, true);
}

void nf_ckpt_stats_read(struct net *net, struct nf_ckpt_stats *st)
{
	struct nf_ckpt_net *cn = nf_ckpt_pernet(net);

	spin_lock_bh(&cn->lock);
	*st = cn->stats;
	spin_unlock_bh(&cn->lock);
}

struct nf_ckpt_reaped {
	u64 id;
	u16 layer;
	struct nf_ckpt_rec *rec;
};

/* One lock hold: reap up to NF_CKPT_REAP_BATCH conns from the cursor. */
static unsigned int nf_ckpt_reap_batch(struct nf_ckpt_net *cn,
				       struct nf_ckpt_reaped *out,
				       unsigned int *nout, bool *wrapped)
{
	struct nf_ckpt_conn *c, *next;
	unsigned int seen = 0;
	int l;

	*nout = 0;
	spin_lock_bh(&cn->lock);
	c = nf_ckpt_conn_next(cn, cn->reap_cursor, true);
	while (c && seen < NF_CKPT_REAP_BATCH) {
		next = rb_entry_safe(rb_next(&c->node), struct nf_ckpt_conn, node);
		for (l = 1; l <= NF_CKPT_LAYER_MAX; l++) {
			struct nf_ckpt_rec *r = c->rec[l];

			if (!r || nf_ckpt_rec_live(r))
				continue;
			if (*nout == NF_CKPT_REAP_BATCH * NF_CKPT_LAYER_MAX)
				break;
			out[*nout].rec = nf_ckpt_remove(cn, c, l);
			out[*nout].id = c->id;
			out[*nout].layer = l;
			(*nout)++;
			cn->stats.expired++;
		}
		if (nf_ckpt_conn_empty(c))
			nf_ckpt_conn_unlink(cn, c);
		c = next;
		seen++;
	}
	*wrapped = !c;
	cn->reap_cursor = c ? c->id : 0;
	spin_unlock_bh(&cn->lock);
	return seen;
}

static void nf_ckpt_reap_work(struct work_struct *work)
{
	struct nf_ckpt_net *cn = container_of(to_delayed_work(work),
					      struct nf_ckpt_net, reap_work);
	struct nf_ckpt_reaped *out;
	unsigned int budget = 0, nout, i;
	bool wrapped = false;

	out = kmalloc_array(NF_CKPT_REAP_BATCH * NF_CKPT_LAYER_MAX,
			    sizeof(*out), GFP_KERNEL);
	if (!out)
		goto resched;
	while (!wrapped && budget < NF_CKPT_REAP_BUDGET) {
		budget += nf_ckpt_reap_batch(cn, out, &nout, &wrapped);
		for (i = 0; i < nout; i++) {
			nf_ckpt_notify_del(cn->net, out[i].id, out[i].layer);
			nf_ckpt_rec_put(out[i].rec);
		}
		cond_resched();
	}
	kfree(out);
resched:
	queue_delayed_work(system_power_efficient_wq, &cn->reap_work,
			   msecs_to_jiffies(max(nf_ckpt_reap_interval_ms, 10U)));
}

static int __net_init nf_ckpt_net_init(struct net *net)
{
	struct nf_ckpt_net *cn = nf_ckpt_pernet(net);

	cn->net = net;
	spin_lock_init(&cn->lock);
	cn->conns = RB_ROOT;
	INIT_DELAYED_WORK(&cn->reap_work, nf_ckpt_reap_work);
	queue_delayed_work(system_power_efficient_wq, &cn->reap_work,
			   msecs_to_jiffies(nf_ckpt_reap_interval_ms));
	return 0;
}

static void __net_exit nf_ckpt_net_exit(struct net *net)
{
	struct nf_ckpt_net *cn = nf_ckpt_pernet(net);
	struct rb_root root;

	cancel_delayed_work_sync(&cn->reap_work);
	root = nf_ckpt_detach_all(cn);
	nf_ckpt_free_tree(net, &root, false);
}

static struct pernet_operations nf_ckpt_net_ops = {
	.init	= nf_ckpt_net_init,
	.exit	= nf_ckpt_net_exit,
	.id	= &nf_ckpt_net_id,
	.size	= sizeof(struct nf_ckpt_net),
};

int nf_ckpt_store_register_restorer(const struct nf_ckpt_restorer *r)
{
	int err = 0;

	mutex_lock(&nf_ckpt_restorer_lock);
	if (nf_ckpt_restorer)
		err = -EBUSY;
	else
		nf_ckpt_restorer = r;
	mutex_unlock(&nf_ckpt_restorer_lock);
	return err;
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_register_restorer);

void nf_ckpt_store_unregister_restorer(const struct nf_ckpt_restorer *r)
{
	mutex_lock(&nf_ckpt_restorer_lock);
	if (nf_ckpt_restorer == r)
		nf_ckpt_restorer = NULL;
	mutex_unlock(&nf_ckpt_restorer_lock);
}
EXPORT_SYMBOL_GPL(nf_ckpt_store_unregister_restorer);

bool nf_ckpt_restorer_present(void)
{
	return READ_ONCE(nf_ckpt_restorer);
}

/*
 * The mutex keeps the restorer registered (its module cannot finish
 * unregistering) for the whole call; restores are serialized.
 */
int nf_ckpt_call_restorer(struct net *net, u32 flags,
			  struct nf_ckpt_restore_stats *st,
			  struct netlink_ext_ack *extack)
{
	const struct nf_ckpt_restorer *r;
	int err;

	mutex_lock(&nf_ckpt_restorer_lock);
	r = nf_ckpt_restorer;
	if (!r || !try_module_get(r->owner)) {
		mutex_unlock(&nf_ckpt_restorer_lock);
		NL_SET_ERR_MSG_MOD(extack, "nf_ckpt_ct is not loaded");
		return -EOPNOTSUPP;
	}
	err = r->restore(net, flags, st, extack);
	module_put(r->owner);
	mutex_unlock(&nf_ckpt_restorer_lock);
	return err;
}

int nf_ckpt_core_init(void)
{
	nf_ckpt_instance_id = get_random_u64();
	return register_pernet_subsys(&nf_ckpt_net_ops);
}

void nf_ckpt_core_exit(void)
{
	unregister_pernet_subsys(&nf_ckpt_net_ops);
}
