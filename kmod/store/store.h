/* SPDX-License-Identifier: GPL-2.0 */
/* Internal header of nf_ckpt_store. */
#ifndef _NF_CKPT_STORE_INTERNAL_H
#define _NF_CKPT_STORE_INTERNAL_H

#include <linux/rbtree.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>
#include <net/nf_ckpt_store.h>

/*
 * An immutable record: an update publishes a new one.  Readers take a
 * reference under the netns lock and use it after dropping the lock.
 */
struct nf_ckpt_rec {
	refcount_t	ref;
	u16		layer;
	u32		len;
	u64		id;
	unsigned long	updated;	/* jiffies */
	unsigned long	expires;	/* jiffies, 0: never */
	u8		data[] __aligned(NLA_ALIGNTO);
};

/* One connection ID: its records, indexed by layer. */
struct nf_ckpt_conn {
	struct rb_node		node;
	u64			id;
	struct nf_ckpt_rec	*rec[NF_CKPT_LAYER_MAX + 1];
};

struct nf_ckpt_layer_stats {
	u64 records;
	u64 bytes;
};

struct nf_ckpt_stats {
	u64 connections;
	u64 records;
	u64 bytes;
	u64 puts;
	u64 updates;
	u64 deletes;
	u64 expired;
	u64 refused;
	struct nf_ckpt_layer_stats layer[NF_CKPT_LAYER_MAX + 1];
};

struct nf_ckpt_net {
	struct net		*net;
	spinlock_t		lock;	/* tree, records, stats */
	struct rb_root		conns;
	struct nf_ckpt_stats	stats;
	u64			reap_cursor;
	struct delayed_work	reap_work;
};

/* A batch of record references taken for one ID. */
struct nf_ckpt_snap {
	u64			id;
	unsigned int		n;
	struct nf_ckpt_rec	*rec[NF_CKPT_LAYER_MAX];
};

extern unsigned long nf_ckpt_max_bytes;
extern unsigned long nf_ckpt_max_records;
extern struct genl_family nf_ckpt_genl_family;

struct nf_ckpt_net *nf_ckpt_pernet(const struct net *net);

static inline bool nf_ckpt_rec_live(const struct nf_ckpt_rec *r)
{
	return !r->expires || time_before(jiffies, r->expires);
}

struct nf_ckpt_rec *nf_ckpt_rec_alloc(u64 id, u16 layer, const void *data,
				      u32 len, u64 expires_ms, u64 age_ms,
				      gfp_t gfp);
void nf_ckpt_rec_put(struct nf_ckpt_rec *r);
u32 nf_ckpt_rec_cost(const struct nf_ckpt_rec *r);
void nf_ckpt_rec_view(const struct nf_ckpt_rec *r,
		      struct nf_ckpt_rec_view *v);

int nf_ckpt_insert_batch(struct net *net, struct nf_ckpt_rec **recs,
			 unsigned int n, bool excl,
			 struct netlink_ext_ack *extack);
int nf_ckpt_snap_next(struct nf_ckpt_net *cn, u64 after, bool exact,
		      struct nf_ckpt_snap *s);
void nf_ckpt_snap_release(struct nf_ckpt_snap *s);
unsigned int nf_ckpt_flush(struct net *net);
void nf_ckpt_stats_read(struct net *net, struct nf_ckpt_stats *st);
void nf_ckpt_note_id(u64 id);

int nf_ckpt_call_restorer(struct net *net, u32 flags,
			  struct nf_ckpt_restore_stats *st,
			  struct netlink_ext_ack *extack);
bool nf_ckpt_restorer_present(void);

/* genl.c */
int nf_ckpt_genl_init(void);
void nf_ckpt_genl_exit(void);
int nf_ckpt_fill_record(struct sk_buff *skb, const struct nf_ckpt_rec *r);
void nf_ckpt_notify_put(struct net *net, const struct nf_ckpt_rec *r);
void nf_ckpt_notify_del(struct net *net, u64 id, u16 layer);

/* core.c */
int nf_ckpt_core_init(void);
void nf_ckpt_core_exit(void);

#endif /* _NF_CKPT_STORE_INTERNAL_H */
