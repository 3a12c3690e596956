/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internals of nf_ckpt_store.
 *
 * Per network namespace, an rhashtable maps a connection ID to a struct
 * nf_ckpt_conn, which points to one immutable record per layer.  A put
 * publishes a new record with rcu_assign_pointer() and drops the table's
 * reference to the old one; records are refcounted so that readers can
 * take them out of RCU and hand them to a callback that sleeps, and freed
 * with kfree_rcu() once the last reference is gone.
 *
 * Every change to the records of an ID, and the insertion or removal of
 * the ID in the table, happens under one of a fixed array of spinlocks
 * chosen by (netns, ID); readers take no lock at all.
 */
#ifndef _NF_CKPT_STORE_INTERNAL_H
#define _NF_CKPT_STORE_INTERNAL_H

#include <linux/jiffies.h>
#include <linux/rhashtable-types.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>
#include <net/nf_ckpt_store.h>

/* Layers are 1..NF_CKPT_LAYER_MAX; arrays below are indexed by layer - 1. */
#define NF_CKPT_NLAYERS		NF_CKPT_LAYER_MAX

/* Index of the "events" group in the family's mcgrps. */
#define NF_CKPT_GRP_EVENTS	0

/*
 * One record.  Immutable once published, except for expires (touch).
 * 40 bytes of header, the payload inline after it.
 */
struct nf_ckpt_rec {
	struct rcu_head	rcu;
	u64		updated;	/* jiffies64 of the put */
	u64		expires;	/* jiffies64, 0: never */
	refcount_t	ref;		/* the table's + readers' */
	u16		layer;
	u16		len;		/* <= NF_CKPT_MAX_PAYLOAD */
	u8		data[];		/* len bytes of attributes */
};

/* One connection ID and its records: 72 bytes. */
struct nf_ckpt_conn {
	struct rhash_head		node;
	u64				id;	/* the key, never 0 */
	struct rcu_head			rcu;
	struct nf_ckpt_rec __rcu	*rec[NF_CKPT_NLAYERS];
};

/*
 * Per-cpu counters of a netns.  Gauges (records, conns, bytes, timed,
 * per-layer) are signed: a record may be added on one CPU and removed on
 * another; only the sum over CPUs means something.
 */
struct nf_ckpt_pcpu_stats {
	s64	conns;
	s64	records;
	s64	bytes;
	s64	timed;		/* records with an expiry (reaper work) */
	u64	puts;
	u64	updates;
	u64	deletes;
	u64	expired;
	u64	refused;
	s64	lrecords[NF_CKPT_NLAYERS];
	s64	lbytes[NF_CKPT_NLAYERS];
};

/* The same, summed over CPUs. */
struct nf_ckpt_stats {
	u64	conns;
	u64	records;
	u64	bytes;
	u64	timed;
	u64	puts;
	u64	updates;
	u64	deletes;
	u64	expired;
	u64	refused;
	u64	lrecords[NF_CKPT_NLAYERS];
	u64	lbytes[NF_CKPT_NLAYERS];
};

struct nf_ckpt_net {
	struct rhashtable			conns;
	struct nf_ckpt_pcpu_stats __percpu	*stats;
	struct net				*net;
	atomic_long_t				used_records;
	atomic_long_t				used_bytes;
	atomic64_t				highest;	/* main.c: IDs */
	bool					capped;	/* netns_max_* */
	struct delayed_work			reap_work;
	struct rhashtable_iter			reap_iter;	/* reaper only */
};

/* References to the live records of one ID, in layer order. */
struct nf_ckpt_snap {
	unsigned int		n;
	struct nf_ckpt_rec	*rec[NF_CKPT_NLAYERS];
};

/* One record of a LOAD request, checked and allocated, not yet stored. */
struct nf_ckpt_load_item {
	u64			id;
	struct nf_ckpt_rec	*rec;
	long			drecords;	/* reserved by the batch */
	long			dbytes;
};

/* main.c */
extern unsigned long nf_ckpt_max_bytes;
extern unsigned long nf_ckpt_max_records;
extern unsigned long nf_ckpt_netns_max_bytes;
extern unsigned long nf_ckpt_netns_max_records;

/* Which limit refused a charge. */
enum {
	NF_CKPT_FULL_STORE = 1,
	NF_CKPT_FULL_NETNS,
};
void nf_ckpt_note_id(struct nf_ckpt_net *cn, u64 id);
bool nf_ckpt_restorer_present(void);
int nf_ckpt_call_restorer(struct net *net, u32 flags,
			  struct nf_ckpt_restore_stats *st,
			  struct netlink_ext_ack *extack);

/* core.c */
int nf_ckpt_core_init(void);
void nf_ckpt_core_exit(void);
struct nf_ckpt_net *nf_ckpt_pernet(const struct net *net);
struct nf_ckpt_rec *nf_ckpt_rec_alloc(u16 layer, const void *data, u32 len,
				      u64 expires_ms, u64 age_ms, gfp_t gfp);
void nf_ckpt_rec_put(struct nf_ckpt_rec *r);
void nf_ckpt_rec_view(const struct nf_ckpt_rec *r, u64 id, u64 now,
		      struct nf_ckpt_rec_view *v);
unsigned int nf_ckpt_snap_get(struct net *net, u64 id,
			      struct nf_ckpt_snap *s);
void nf_ckpt_snap_put(struct nf_ckpt_snap *s);
int nf_ckpt_snapshot_ids(struct net *net, u64 **ids, size_t *n);
struct nf_ckpt_conn *nf_ckpt_conn_find_rcu(struct net *net, u64 id);
int nf_ckpt_load_batch(struct net *net, struct nf_ckpt_load_item *items,
		       size_t n, bool excl, struct netlink_ext_ack *extack);
int nf_ckpt_flush(struct net *net);
void nf_ckpt_stats_read(struct net *net, struct nf_ckpt_stats *st);

/* Expired records are invisible: readers skip them, the reaper frees them. */
static inline bool nf_ckpt_rec_expired(const struct nf_ckpt_rec *r, u64 now)
{
	u64 expires = READ_ONCE(r->expires);

	return expires && time_after_eq64(now, expires);
}

/* The live record of layer index idx of c, or NULL.  Under RCU. */
static inline struct nf_ckpt_rec *
nf_ckpt_conn_rec_rcu(const struct nf_ckpt_conn *c, unsigned int idx, u64 now)
{
	struct nf_ckpt_rec *r = rcu_dereference(c->rec[idx]);

	return r && !nf_ckpt_rec_expired(r, now) ? r : NULL;
}

/* genl.c */
int nf_ckpt_genl_init(void);
void nf_ckpt_genl_exit(void);
void nf_ckpt_notify_put(struct net *net, u64 id, const struct nf_ckpt_rec *r);
void nf_ckpt_notify_del(struct net *net, u64 id, u16 layer);

#endif /* _NF_CKPT_STORE_INTERNAL_H */
