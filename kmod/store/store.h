/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internals of nf_ckpt_store.
 *
 * Per network namespace, an rhashtable maps a connection ID to its slot
 * (struct nf_ckpt_slot), which holds BASE and L4 packed (slot.c) and
 * points to a tail of immutable records for the rest.  Readers that
 * sleep get copies (struct nf_ckpt_snap); records are freed with
 * kfree_rcu().
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
#include <linux/seqlock.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>
#include <net/nf_ckpt_store.h>

/* Layers are 1..NF_CKPT_LAYER_MAX; arrays below are indexed by layer - 1. */
#define NF_CKPT_NLAYERS		NF_CKPT_LAYER_MAX

/* Index of the "events" group in the family's mcgrps. */
#define NF_CKPT_GRP_EVENTS	0

/*
 * One record kept as it was put: the layers the store does not pack, and
 * BASE or L4 payloads its packed form cannot hold exactly.  Immutable
 * once published, except for expires (touch).  32 bytes of header.
 */
struct nf_ckpt_rec {
	struct rcu_head	rcu;
	u64		updated;	/* jiffies64 of the put */
	u64		expires;	/* jiffies64, 0: never */
	u16		layer;
	u16		len;		/* <= NF_CKPT_MAX_PAYLOAD */
	u8		data[];		/* len bytes of attributes */
};

/* The records of an ID that are not packed; allocated for the first. */
struct nf_ckpt_tail {
	struct rcu_head			rcu;
	struct nf_ckpt_rec __rcu	*rec[NF_CKPT_NLAYERS];
};

/*
 * BASE packed (slot.c): what nf_ckpt_ct writes for a conntrack with at
 * most one NAT mapping, no master and no user labels.  The reply tuple
 * is the inverse of the original with the NAT mapping applied; ICMP's
 * reply id, type and code are kept.  Addresses are at the end of the
 * slot (nf_ckpt_slot_addr()): original source, destination, NAT.
 */
struct nf_ckpt_pbase {
	u8	family;		/* NFPROTO_IPV4 / NFPROTO_IPV6 */
	u8	proto;
	u8	zone_dir;
	u8	flags;		/* NF_CKPT_PB_* */
	u16	zone;
	__be16	sport;		/* ICMP: id */
	__be16	dport;		/* ICMP: reply id */
	__be16	nat_port;
	u8	itype[2];	/* ICMP type, original and reply */
	u8	icode[2];
	u32	status;
	u32	mark;
	u32	timeout_ms;
};

#define NF_CKPT_PB_LABELS	BIT(0)	/* LABELS present, all zero */
#define NF_CKPT_PB_SNAT		BIT(1)
#define NF_CKPT_PB_DNAT		BIT(2)

/* L4 packed: TCP or SCTP, all of its attributes (kind: in the slot). */
union nf_ckpt_pl4 {
	struct {
		u8	state;
		u8	last_dir;
		u8	retrans;
		u8	last_index;
		u8	last_wscale;
		u8	last_flags;
		u16	last_win;
		u32	last_seq;
		u32	last_ack;
		u32	last_end;
		u32	end[2];		/* per direction, original first */
		u32	maxend[2];
		u32	maxwin[2];
		u32	maxack[2];
		u8	wscale[2];
		u8	flags[2];
	} tcp;
	struct {
		__be32	vtag[2];
		u8	state;
		u8	init[2];
		u8	last_dir;
		u8	flags;
	} sctp;
};

/* Which L4 a slot packs: the nest type, and for UDP its STREAM flag. */
#define NF_CKPT_PL4_UDP_STREAM	BIT(7)

/* The layers a slot can hold packed, by index (layer - 1). */
#define NF_CKPT_PACKED_BASE	0
#define NF_CKPT_PACKED_L4	1
#define NF_CKPT_NPACKED		2

/*
 * One connection ID: a fixed-size object (one kmem_cache per address
 * size) holding BASE and L4 packed, updated in place under seq, and a
 * tail for anything else.  Packed layers' times are jiffies32: a packed
 * layer always expires, within INT_MAX jiffies of its put (readers
 * compare as s32), and the reaper frees it long before that wraps.
 */
struct nf_ckpt_slot {
	struct rhash_head		node;
	u64				id;	/* the key, never 0 */
	struct nf_ckpt_tail __rcu	*tail;
	struct rcu_head			rcu;
	seqcount_t			seq;	/* packed fields */
	u8				packed;	/* BIT(NF_CKPT_PACKED_*) */
	u8				v6;	/* which cache, address size */
	u8				l4kind;	/* NF_CKPT_L4_A_*, | UDP_STREAM */
	u32				updated[NF_CKPT_NPACKED];
	u32				expires[NF_CKPT_NPACKED];
	struct nf_ckpt_pbase		base;
	union nf_ckpt_pl4		l4;
	u8				addr[];	/* 3 x 4 or 3 x 16 bytes */
};

/* Largest payload a packed layer writes back. */
#define NF_CKPT_PACKED_MAX	256

#define NF_CKPT_ADDR4	4
#define NF_CKPT_ADDR6	16

/* Address slots at the end of struct nf_ckpt_slot. */
enum { NF_CKPT_ADDR_SRC, NF_CKPT_ADDR_DST, NF_CKPT_ADDR_NAT, NF_CKPT_NADDR };

/*
 * The packed fields of a slot, decoded from a payload or copied out
 * under the slot's seqcount; addresses 16 bytes apart whatever the slot.
 */
struct nf_ckpt_img {
	struct nf_ckpt_pbase	base;
	union nf_ckpt_pl4	l4;
	u8			l4kind;
	u8			addr[NF_CKPT_NADDR * NF_CKPT_ADDR6];
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

#define NF_CKPT_SNAP_BUF	(NF_CKPT_NLAYERS * NF_CKPT_MAX_PAYLOAD)

/* One put, as the API or a LOAD gives it. */
struct nf_ckpt_put_req {
	u64			id;
	u16			layer;
	u32			len;
	const struct nlattr	*payload;
	u64			expires_ms;	/* 0: never */
	u64			age_ms;
};

/* One record of a LOAD request, checked, not yet stored. */
struct nf_ckpt_load_item {
	struct nf_ckpt_put_req	req;	/* payload: in the request */
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
void nf_ckpt_rec_view(const struct nf_ckpt_rec *r, u64 id, u64 now,
		      struct nf_ckpt_rec_view *v);
unsigned int nf_ckpt_snap_get(struct net *net, u64 id,
			      struct nf_ckpt_snap *s);
int nf_ckpt_snapshot_ids(struct net *net, u64 **ids, size_t *n);
struct nf_ckpt_slot *nf_ckpt_slot_find_rcu(struct net *net, u64 id);
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

/* slot.c: the packed layers */
int nf_ckpt_slot_init(void);
void nf_ckpt_slot_exit(void);
/* A zeroed slot, of the size a BASE payload of this family needs. */
struct nf_ckpt_slot *nf_ckpt_slot_alloc(u16 layer, const struct nlattr *payload,
					u32 len, gfp_t gfp);
void nf_ckpt_slot_free(struct nf_ckpt_slot *c);
void nf_ckpt_slot_free_rcu(struct nf_ckpt_slot *c);
/* Bytes a packed layer index pidx is charged (its part of the slot). */
long nf_ckpt_slot_cost(const struct nf_ckpt_slot *c, unsigned int pidx);
/* The same for a put of layer into c, or into the slot it would get. */
long nf_ckpt_slot_cost_for(u16 layer, const struct nlattr *payload, u32 len,
			   const struct nf_ckpt_slot *c);
/*
 * Can this validated payload of layer index pidx be packed?  Only if the
 * packed form writes back exactly the same bytes.  Decodes it into img.
 */
bool nf_ckpt_slot_check(unsigned int pidx, const struct nlattr *payload,
			u32 len, struct nf_ckpt_img *img);
/* A BASE payload of IPv6 needs a slot with room for its addresses. */
bool nf_ckpt_slot_needs_v6(u16 layer, const struct nlattr *payload, u32 len);
/*
 * Pack what nf_ckpt_slot_check() decoded into c; under the lock, in a
 * seqcount write.
 */
void nf_ckpt_slot_pack(struct nf_ckpt_slot *c, unsigned int pidx,
		       const struct nf_ckpt_img *img);
/*
 * The live record of layer index idx of c as a view, under RCU: payload
 * points into the record, or into buf (cap >= NF_CKPT_PACKED_MAX) for a
 * packed layer.  false if there is none.
 */
bool nf_ckpt_slot_view(const struct nf_ckpt_slot *c, unsigned int idx,
		       u64 now, struct nf_ckpt_rec_view *v, u8 *buf, u32 cap);
/* Lock-free, under RCU: is layer index idx of c there and live / expired? */
bool nf_ckpt_slot_live_rcu(const struct nf_ckpt_slot *c, unsigned int idx,
			   u64 now);
bool nf_ckpt_slot_expired_rcu(const struct nf_ckpt_slot *c, unsigned int idx,
			      u64 now);

/* genl.c */
int nf_ckpt_genl_init(void);
void nf_ckpt_genl_exit(void);
void nf_ckpt_notify_put(struct net *net, const struct nf_ckpt_rec_view *v);
void nf_ckpt_notify_del(struct net *net, u64 id, u16 layer);

#endif /* _NF_CKPT_STORE_INTERNAL_H */
