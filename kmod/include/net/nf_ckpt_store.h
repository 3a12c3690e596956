/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-kernel API of nf_ckpt_store.ko, used by nf_ckpt_ct.ko.
 *
 * A record is (netns, connection ID, layer) -> payload, the payload being a
 * stream of netlink attributes of that layer (see uapi/linux/nf_ckpt.h).
 * The store copies what it is given; it never keeps the caller's pointers.
 */
#ifndef _NET_NF_CKPT_STORE_H
#define _NET_NF_CKPT_STORE_H

#include <linux/bits.h>
#include <linux/types.h>
#include <linux/jiffies.h>
#include <linux/math64.h>
#include <linux/netlink.h>
#include <linux/string.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <uapi/linux/netfilter.h>
#include <net/netlink.h>
#include <linux/module.h>
#include <uapi/linux/nf_ckpt.h>

struct net;

/* Largest payload of one record. */
#define NF_CKPT_MAX_PAYLOAD	4096

/*
 * The ID counter of a netns only ever moves past IDs up to this one.
 * Higher IDs can still be stored (LOAD, or a label someone else wrote),
 * but they do not count: pushed to U64_MAX, the counter would wrap and
 * hand out the same IDs again (every new conntrack got ID 1).  A netns
 * whose counter reached it gets no more IDs.
 */
#define NF_CKPT_ID_TRACK_MAX	(U64_MAX >> 1)

/*
 * Bounds the store's shape checks apply, copies of conntrack's own
 * (nf_ckpt_store does not depend on nf_conntrack; nf_ckpt_ct checks them
 * against the real ones with BUILD_BUG_ON).
 */
#define NF_CKPT_HELPER_NAME_LEN		16	/* NF_CT_HELPER_NAME_LEN */
#define NF_CKPT_EXPECT_CLASSES		4	/* NF_CT_MAX_EXPECT_CLASSES */
#define NF_CKPT_WSCALE_MAX		14	/* TCP_MAX_WSCALE */
#define NF_CKPT_HELPER_DATA_MAX		32	/* nf_conn_help's data[] */
/* The last of conntrack's enum tcp_bit_set (TCP_NONE_SET), private to it. */
#define NF_CKPT_TCP_INDEX_MAX		5
#define NF_CKPT_EXPECTFN_NAME_LEN	64

/*
 * Milliseconds of a record (whatever a LOAD brought) as jiffies, for the
 * store's lifetimes and for conntrack's timeouts alike: capped at
 * INT_MAX, as conntrack and expectation timeouts are compared as s32
 * (and __nf_ct_set_timeout() caps at INT_MAX too).  99 days at HZ=250.
 */
static inline u64 nf_ckpt_ms_to_jiffies(u64 ms)
{
	u64 secs = div_u64(ms, MSEC_PER_SEC);

	if (secs >= INT_MAX / HZ)
		return INT_MAX;
	return secs * HZ + msecs_to_jiffies(ms - secs * MSEC_PER_SEC);
}

/*
 * How payloads encode tuples, for both modules: addresses are 4 or 16
 * bytes by family; ports (u.all) for these protocols, id, type and code
 * for ICMP, nothing else for the others.
 */
static inline int nf_ckpt_addr_len(u16 l3num)
{
	return l3num == NFPROTO_IPV6 ? sizeof(struct in6_addr) :
				       sizeof(struct in_addr);
}

static inline bool nf_ckpt_proto_has_ports(u8 protonum)
{
	switch (protonum) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
	case IPPROTO_DCCP:
		return true;
	}
	return false;
}

static inline bool nf_ckpt_proto_is_icmp(u8 protonum)
{
	return protonum == IPPROTO_ICMP || protonum == IPPROTO_ICMPV6;
}

/*
 * Building a payload: netlink attributes appended to a flat buffer (no
 * skb), as nf_ckpt_ct's encoders write records and as the store writes
 * back the layers it keeps packed.  A put returns -EMSGSIZE (a nest
 * start NULL) once m is full.
 */
struct nf_ckpt_msg {
	u8	*data;
	u32	len;
	u32	cap;
};

static inline void nf_ckpt_msg_init(struct nf_ckpt_msg *m, void *buf, u32 cap)
{
	m->data = buf;
	m->len = 0;
	m->cap = cap;
}

/* An attribute header for len bytes of data, padding zeroed. */
static inline struct nlattr *nf_ckpt_reserve(struct nf_ckpt_msg *m, int type,
					     int len)
{
	struct nlattr *nla;

	if (m->len + nla_total_size(len) > m->cap)
		return NULL;
	nla = (struct nlattr *)(m->data + m->len);
	nla->nla_type = type;
	nla->nla_len = nla_attr_size(len);
	memset((u8 *)nla + nla->nla_len, 0, nla_padlen(len));
	m->len += nla_total_size(len);
	return nla;
}

static inline int nf_ckpt_put(struct nf_ckpt_msg *m, int type, int len,
			      const void *data)
{
	struct nlattr *nla = nf_ckpt_reserve(m, type, len);

	if (!nla)
		return -EMSGSIZE;
	memcpy(nla_data(nla), data, len);
	return 0;
}

static inline int nf_ckpt_put_u8(struct nf_ckpt_msg *m, int type, u8 v)
{
	return nf_ckpt_put(m, type, sizeof(v), &v);
}

static inline int nf_ckpt_put_u16(struct nf_ckpt_msg *m, int type, u16 v)
{
	return nf_ckpt_put(m, type, sizeof(v), &v);
}

static inline int nf_ckpt_put_be16(struct nf_ckpt_msg *m, int type, __be16 v)
{
	return nf_ckpt_put(m, type, sizeof(v), &v);
}

static inline int nf_ckpt_put_u32(struct nf_ckpt_msg *m, int type, u32 v)
{
	return nf_ckpt_put(m, type, sizeof(v), &v);
}

static inline int nf_ckpt_put_be32(struct nf_ckpt_msg *m, int type, __be32 v)
{
	return nf_ckpt_put(m, type, sizeof(v), &v);
}

/* Payloads are only 4-byte aligned: readers use nla_get_u64 (memcpy). */
static inline int nf_ckpt_put_u64(struct nf_ckpt_msg *m, int type, u64 v)
{
	return nf_ckpt_put(m, type, sizeof(v), &v);
}

static inline int nf_ckpt_put_flag(struct nf_ckpt_msg *m, int type)
{
	return nf_ckpt_reserve(m, type, 0) ? 0 : -EMSGSIZE;
}

static inline struct nlattr *nf_ckpt_nest_start(struct nf_ckpt_msg *m,
						int type)
{
	return nf_ckpt_reserve(m, type | NLA_F_NESTED, 0);
}

static inline void nf_ckpt_nest_end(struct nf_ckpt_msg *m,
				    struct nlattr *start)
{
	start->nla_len = m->data + m->len - (u8 *)start;
}

/* A record as a reader sees it: valid for the duration of the callback. */
struct nf_ckpt_rec_view {
	u64		id;
	u16		layer;
	u32		len;
	u64		age_ms;		/* since the last put */
	u64		expires_ms;	/* left until reaped, 0: never */
	const struct nlattr *payload;	/* len bytes of attributes */
};

/*
 * A copy of the live records of one ID, base layer first (if present),
 * then the others in layer order, for readers that sleep: the views point
 * into buf, the copy's own (nf_ckpt_snap_alloc(), once for many IDs).
 */
struct nf_ckpt_snap {
	unsigned int		n;
	struct nf_ckpt_rec_view	v[NF_CKPT_LAYER_MAX];
	u8			*buf;
};

int nf_ckpt_snap_alloc(struct nf_ckpt_snap *s, gfp_t gfp);
void nf_ckpt_snap_free(struct nf_ckpt_snap *s);

/*
 * The IDs of a netns as they were at nf_ckpt_store_iter_start(), in
 * ascending order; nf_ckpt_store_iter_next() skips those gone since.
 */
struct nf_ckpt_iter {
	struct net	*net;
	u64		*ids;
	size_t		n;
	size_t		pos;
};

/*
 * Put or update one record.  Safe from softirq with GFP_ATOMIC.  expires_ms
 * is the lifetime from now (0: never).  -ENOSPC when the store is full (the
 * existing record, if any, is left as it was), -EINVAL for a bad layer or a
 * payload that is not well-formed attributes of that layer.
 */
int nf_ckpt_store_put(struct net *net, u64 id, u16 layer,
		      const void *payload, u32 len, u64 expires_ms, gfp_t gfp);

/* Push the expiry of every record of an ID out to expires_ms from now. */
int nf_ckpt_store_touch(struct net *net, u64 id, u64 expires_ms);

/* Delete one layer of an ID; -ENOENT if absent.  Any context. */
int nf_ckpt_store_del(struct net *net, u64 id, u16 layer);

/* Delete every record of an ID; -ENOENT if absent.  Any context. */
int nf_ckpt_store_forget(struct net *net, u64 id);

/* Is there a record of this ID (any layer)?  Any context, lock-free. */
bool nf_ckpt_store_has(struct net *net, u64 id);

/* Copy the live records of an ID into s; -ENOENT if none.  Any context. */
int nf_ckpt_store_get(struct net *net, u64 id, struct nf_ckpt_snap *s);

/* Snapshot the netns's IDs.  Process context; -ENOMEM, -EINTR. */
int nf_ckpt_store_iter_start(struct net *net, struct nf_ckpt_iter *it);
/* The next ID still in the store, its records copied into s; 0: no more. */
u64 nf_ckpt_store_iter_next(struct nf_ckpt_iter *it, struct nf_ckpt_snap *s);
void nf_ckpt_store_iter_stop(struct nf_ckpt_iter *it);

/* Random at store load; identifies the store instance. */
u64 nf_ckpt_store_instance(void);

/*
 * Connection IDs, one counter per netns, owned by the store so that they
 * outlive nf_ckpt_ct.  Unique within a netns; nothing one netns puts or
 * loads moves the counter of another.
 *
 * The highest ID put, loaded, allocated or seen in net (up to
 * NF_CKPT_ID_TRACK_MAX).
 */
u64 nf_ckpt_store_highest_id(struct net *net);
/* A fresh ID of net, never with a zero low word; 0 when exhausted. */
u64 nf_ckpt_store_id_alloc(struct net *net);
/* IDs handed out in net from now on are above id.  Any context. */
void nf_ckpt_store_id_seen(struct net *net, u64 id);

/*
 * Result of a restore: one counter per attribute of the reply's
 * NF_CKPT_A_RESTORE nest, indexed by NF_CKPT_RES_A_*, so that the reply,
 * ckptctl and dmesg say the same thing.  v[NF_CKPT_RES_A_FAILED] is not
 * counted but summed: nf_ckpt_restore_failed().
 */
struct nf_ckpt_restore_stats {
	u32 v[NF_CKPT_RES_A_MAX + 1];
};

/* The reasons a connection or an expectation was not restored. */
#define NF_CKPT_RES_FAIL_MASK						\
	(BIT(NF_CKPT_RES_A_FAIL_NOMEM) | BIT(NF_CKPT_RES_A_FAIL_NOSPC) |	\
	 BIT(NF_CKPT_RES_A_FAIL_HELPER) | BIT(NF_CKPT_RES_A_FAIL_NAT) |	\
	 BIT(NF_CKPT_RES_A_FAIL_INVAL) | BIT(NF_CKPT_RES_A_FAIL_OTHER) |	\
	 BIT(NF_CKPT_RES_A_FAIL_EXPECT))

static inline u32 nf_ckpt_restore_failed(const struct nf_ckpt_restore_stats *st)
{
	u32 sum = 0;
	int a;

	for (a = 0; a <= NF_CKPT_RES_A_MAX; a++)
		if (BIT(a) & NF_CKPT_RES_FAIL_MASK)
			sum += st->v[a];
	return sum;
}

/*
 * The firewall module registers itself so that NF_CKPT_CMD_RESTORE can ask
 * it to reassemble the connections of a netns.  One restorer at a time.
 */
struct nf_ckpt_restorer {
	struct module *owner;
	int (*restore)(struct net *net, u32 flags,
		       struct nf_ckpt_restore_stats *st,
		       struct netlink_ext_ack *extack);
};

int nf_ckpt_store_register_restorer(const struct nf_ckpt_restorer *r);
void nf_ckpt_store_unregister_restorer(const struct nf_ckpt_restorer *r);

/* Attribute policies of the record payloads, one per layer. */
extern const struct nla_policy nf_ckpt_base_policy[NF_CKPT_BASE_A_MAX + 1];
extern const struct nla_policy nf_ckpt_tuple_policy[NF_CKPT_TUPLE_A_MAX + 1];
extern const struct nla_policy nf_ckpt_nat_policy[NF_CKPT_NAT_A_MAX + 1];
extern const struct nla_policy nf_ckpt_l4_policy[NF_CKPT_L4_A_MAX + 1];
extern const struct nla_policy nf_ckpt_tcp_policy[NF_CKPT_TCP_A_MAX + 1];
extern const struct nla_policy nf_ckpt_tcpw_policy[NF_CKPT_TCPW_A_MAX + 1];
extern const struct nla_policy nf_ckpt_sctp_policy[NF_CKPT_SCTP_A_MAX + 1];
extern const struct nla_policy nf_ckpt_udp_policy[NF_CKPT_UDP_A_MAX + 1];
extern const struct nla_policy nf_ckpt_helper_policy[NF_CKPT_HELPER_A_MAX + 1];
extern const struct nla_policy nf_ckpt_seqadj_policy[NF_CKPT_SEQADJ_A_MAX + 1];
extern const struct nla_policy
	nf_ckpt_seqadj_dir_policy[NF_CKPT_SEQADJ_DIR_A_MAX + 1];
extern const struct nla_policy nf_ckpt_expect_policy[NF_CKPT_EXPECT_A_MAX + 1];
extern const struct nla_policy nf_ckpt_exp_policy[NF_CKPT_EXP_A_MAX + 1];

/* Validate a payload against its layer's policy (extack may be NULL). */
int nf_ckpt_validate_payload(u16 layer, const struct nlattr *payload, u32 len,
			     struct netlink_ext_ack *extack);

#endif /* _NET_NF_CKPT_STORE_H */
