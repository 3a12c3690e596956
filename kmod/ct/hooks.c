// SPDX-License-Identifier: GPL-2.0
/*
 * nf_ckpt_ct: seeing conntracks and deciding when to checkpoint them.
 *
 * Hooks (per netns, NFPROTO_INET, so IPv4 and IPv6):
 *   PRE_ROUTING and LOCAL_OUT at NF_IP_PRI_CONNTRACK - 1: relearn.c's,
 *     idle except for a while after a restore.
 *   PRE_ROUTING and LOCAL_OUT at NF_IP_PRI_CONNTRACK + 1: right after
 *     nf_conntrack_in() updated a confirmed conntrack (state changes).
 *   POST_ROUTING at NF_IP_PRI_CONNTRACK_CONFIRM - 1 and LOCAL_IN at
 *     NF_IP_PRI_CONNTRACK_CONFIRM - 2 (IPv6 confirms at LOCAL_IN with
 *     NF_IP6_PRI_LAST - 1, and a hook registered later at an equal
 *     priority runs first): a new, not yet confirmed conntrack, NAT
 *     already bound.  A conntrack born of an expectation refreshes its
 *     master's EXPECT record here.  With checkpoint_handshake=1 (or a
 *     conntrack worth restoring from its first packet) the new one gets
 *     its ID and its first records here, just before confirmation.
 * The conntrack event notifier is not used: ctnetlink owns it.
 *
 * Worth restoring (nf_ckpt_ct_worth()):
 *   A conntrack costs the store and this module nothing (no ID, no entry,
 *   no fallback entry, no record) until it is worth restoring:
 *   - TCP, SCTP, UDP, UDP-Lite, GRE: IPS_ASSURED, conntrack's own
 *     "not a probe" signal.  TCP sets it on the packet that moves
 *     SYN_RECV to ESTABLISHED (the handshake ACK), or on a valid answer
 *     to a picked-up ESTABLISHED connection; it is never cleared, so
 *     FIN_WAIT, CLOSE_WAIT, LAST_ACK after that stay checkpointed.  SCTP
 *     sets it on reaching ESTABLISHED, UDP once the flow has seen a reply
 *     and is still active (the stream timeout), GRE on a reply.
 *   - Anything else (ICMP, ICMPv6, DCCP, generic): IPS_SEEN_REPLY (or
 *     ASSURED), an answered exchange.
 *   A SYN flood, an unanswered UDP probe or an unanswered ping writes
 *   nothing.  checkpoint_handshake=1 makes every conntrack worth it from
 *   its first packet (the behaviour before).  A conntrack that has an
 *   entry already (written while checkpoint_handshake was 1) is followed
 *   as before.  The first write assigns the ID.
 *
 * Change detection, per packet:
 *   The only per-connection memory is a small entry (struct nf_ckpt_conn)
 *   in a per-netns rhashtable keyed by ID, holding a fingerprint of what
 *   was last written and when the next rate-limited refresh is due.  A
 *   packet of a known connection costs: the ID from the labels extension
 *   (two loads), one RCU hash lookup, a comparison of jiffies with
 *   next_refresh, and a 32-byte fingerprint built from fields already in
 *   the conntrack's cache lines (status, mark, user labels, TCP/SCTP
 *   state; helper data, seqadj and expectations only for conntracks that
 *   have them).  Equal fingerprint and refresh not due: nothing else.
 *   Otherwise the entry's lock is taken, the fingerprint recomputed and:
 *   - status, mark, labels or L4 state changed: BASE and L4 are written at
 *     once (the timeout changes with the state);
 *   - helper data, seqadj or the set of pending expectations changed:
 *     that layer is written at once;
 *   - update_interval_ms elapsed: every layer is rewritten (TCP windows,
 *     timeouts left, expectation timeouts), so on a bulk flow the records
 *     follow the conntrack at most once per interval.
 *   A layer with nothing to say any more is deleted.  Records expire
 *   timeout left + update_interval_ms + grace_ms after they are written:
 *   they outlive a flush of the conntrack table but not the conntrack's
 *   natural end.  Entries are reaped by a periodic GC once past that too.
 * End: TCP in CLOSE or TIME_WAIT, or SCTP back in CLOSED after it was
 *   established (ASSURED), forgets the ID's records; the entry stays
 *   (ENDED) so later packets do not write them again.  The destruction of
 *   a conntrack is never acted on: a flush looks the same.
 */

#include <linux/jhash.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <net/netfilter/nf_conntrack_helper.h>
#include <net/netfilter/nf_conntrack_labels.h>
#include <net/netfilter/nf_conntrack_seqadj.h>

#include "ct.h"

#define NF_CKPT_ALL_LAYERS	(GENMASK(NF_CKPT_LAYER_MAX, NF_CKPT_LAYER_BASE))
#define NF_CKPT_SYNC_FORCE	BIT(0)

static bool nf_ckpt_ct_ended(const struct nf_conn *ct)
{
	u8 state;

	switch (nf_ct_protonum(ct)) {
	case IPPROTO_TCP:
		state = READ_ONCE(ct->proto.tcp.state);
		return state == TCP_CONNTRACK_CLOSE ||
		       state == TCP_CONNTRACK_TIME_WAIT;
	case IPPROTO_SCTP:
		/* A new association starts in CLOSED too: not ASSURED yet. */
		return READ_ONCE(ct->proto.sctp.state) == SCTP_CONNTRACK_CLOSED &&
		       test_bit(IPS_ASSURED_BIT, &ct->status);
	}
	return false;
}

/* See "Worth restoring" above.  Lock-free, any context. */
static bool nf_ckpt_ct_worth(const struct nf_conn *ct)
{
	unsigned long status = READ_ONCE(ct->status);

	if (READ_ONCE(nf_ckpt_checkpoint_handshake) || (status & IPS_ASSURED))
		return true;
	switch (nf_ct_protonum(ct)) {
	case IPPROTO_TCP:
	case IPPROTO_SCTP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_GRE:
		return false;
	}
	return status & IPS_SEEN_REPLY;
}

static u32 nf_ckpt_fp_l4(const struct nf_conn *ct)
{
	const struct ip_ct_sctp *sctp = &ct->proto.sctp;

	switch (nf_ct_protonum(ct)) {
	case IPPROTO_TCP:
		return READ_ONCE(ct->proto.tcp.state);
	case IPPROTO_SCTP:
		return jhash_3words((__force u32)READ_ONCE(sctp->vtag[0]),
				    (__force u32)READ_ONCE(sctp->vtag[1]),
				    READ_ONCE(sctp->state), 0);
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		return test_bit(IPS_ASSURED_BIT, &ct->status);
	}
	return 0;
}

/* Non-zero fingerprints (| 1) say the layer has something to record. */
static u32 nf_ckpt_fp_helper(const struct nf_conn_help *help)
{
	const struct nf_conntrack_helper *helper;
	size_t len;

	if (!help)
		return 0;
	helper = rcu_dereference(help->helper);
	if (!helper)
		return 0;
	/* Only what is recorded: a change elsewhere writes nothing new. */
	len = nf_ckpt_helper_data_len(helper);
	return jhash(help->data, len, (u32)(unsigned long)helper) | 1;
}

static u32 nf_ckpt_fp_expect(const struct nf_conn_help *help)
{
	const struct nf_conntrack_expect *exp;
	u32 fp = 0, n = 0;
	int i;

	if (!help)
		return 0;
	for (i = 0; i < NF_CT_MAX_EXPECT_CLASSES; i++)
		n += READ_ONCE(help->expecting[i]);
	if (!n)
		return 0;
	hlist_for_each_entry_rcu(exp, &help->expectations, lnode)
		fp = jhash_3words((u32)(unsigned long)exp,
				  (__force u32)exp->tuple.dst.u.all,
				  READ_ONCE(exp->flags), fp);
	return fp | 1;
}

static u32 nf_ckpt_fp_seqadj(const struct nf_conn *ct)
{
	const struct nf_conn_seqadj *seqadj;

	if (!test_bit(IPS_SEQ_ADJUST_BIT, &ct->status))
		return 0;
	seqadj = nfct_seqadj(ct);
	if (!seqadj)
		return 0;
	BUILD_BUG_ON(sizeof(*seqadj) % sizeof(u32));
	return jhash2((const u32 *)seqadj, sizeof(*seqadj) / sizeof(u32), 0) | 1;
}

static u64 nf_ckpt_user_labels(const struct nf_conn *ct)
{
	const struct nf_conn_labels *labels = nf_ct_labels_find(ct);
	u64 v;

	if (!labels)
		return 0;
	/* Bits 0..63 are the first 8 bytes whatever the word size. */
	memcpy(&v, labels->bits, sizeof(v));
	return v;
}

/* Caller holds rcu_read_lock(). */
static void nf_ckpt_fp_of(const struct nf_conn *ct, struct nf_ckpt_fp *fp)
{
	const struct nf_conn_help *help = nfct_help(ct);

	fp->status = READ_ONCE(ct->status) & ~NF_CKPT_STATUS_VOLATILE;
	fp->mark = READ_ONCE(ct->mark);
	fp->labels = nf_ckpt_user_labels(ct);
	fp->l4 = nf_ckpt_fp_l4(ct);
	fp->helper = nf_ckpt_fp_helper(help);
	fp->seqadj = nf_ckpt_fp_seqadj(ct);
	fp->expect = nf_ckpt_fp_expect(help);
}

static u32 nf_ckpt_expires_jiffies(const struct nf_conn *ct)
{
	return min_t(u64, (u64)nf_ckpt_ct_timeout_left(ct) +
			  nf_ckpt_grace_jiffies(), INT_MAX);
}

static int nf_ckpt_encode_layer(struct nf_ckpt_msg *m, struct nf_conn *ct,
				u16 layer, u64 master_id)
{
	switch (layer) {
	case NF_CKPT_LAYER_BASE:
		return nf_ckpt_encode_base(m, ct, master_id);
	case NF_CKPT_LAYER_L4:
		return nf_ckpt_encode_l4(m, ct);
	case NF_CKPT_LAYER_HELPER:
		return nf_ckpt_encode_helper(m, ct);
	case NF_CKPT_LAYER_SEQADJ:
		return nf_ckpt_encode_seqadj(m, ct);
	case NF_CKPT_LAYER_EXPECT:
		return nf_ckpt_encode_expect(m, ct);
	}
	return 0;
}

/*
 * Write the layers in todo (deleting those with nothing to record) and
 * push the expiry of the other present ones.  Returns the layers now in
 * the store.
 */
static u8 nf_ckpt_write(struct nf_ckpt_ct_net *cn, struct nf_conn *ct, u64 id,
			u8 todo, u8 present)
{
	u64 expires_ms = jiffies64_to_msecs(nf_ckpt_expires_jiffies(ct));
	struct net *net = cn->net;
	struct nf_ckpt_msg m;
	u64 master_id = 0;
	bool touch = false;
	u16 layer;
	int err;

	if ((todo & BIT(NF_CKPT_LAYER_BASE)) && ct->master)
		master_id = nf_ckpt_ct_get_or_assign_id(cn, ct->master, NULL);

	/* The per-CPU buffer: LOCAL_OUT runs with BH enabled. */
	local_bh_disable();
	for (layer = NF_CKPT_LAYER_BASE; layer <= NF_CKPT_LAYER_MAX; layer++) {
		if (!(todo & BIT(layer))) {
			touch |= !!(present & BIT(layer));
			continue;
		}
		nf_ckpt_msg_init(&m, nf_ckpt_encode_buf(), NF_CKPT_MAX_PAYLOAD);
		if (nf_ckpt_encode_layer(&m, ct, layer, master_id)) {
			atomic_inc(&cn->errors);
			continue;
		}
		if (m.len) {
			err = nf_ckpt_store_put(net, id, layer, m.data, m.len,
						expires_ms, GFP_ATOMIC);
			if (err) {
				atomic_inc(&cn->errors);
				net_dbg_ratelimited("%s: put %llu/%u: %d\n",
						    KBUILD_MODNAME, id, layer,
						    err);
				continue;
			}
			present |= BIT(layer);
		} else if (present & BIT(layer)) {
			nf_ckpt_store_del(net, id, layer);
			present &= ~BIT(layer);
		}
	}
	local_bh_enable();

	if (touch)
		nf_ckpt_store_touch(net, id, expires_ms);
	return present;
}

static void nf_ckpt_sync(struct nf_ckpt_ct_net *cn, struct nf_conn *ct,
			 u64 id, unsigned int how)
{
	u32 now = (u32)jiffies;
	struct nf_ckpt_conn *c;
	struct nf_ckpt_fp fp;
	bool fresh = false;
	u8 todo = 0;

	/* Not worth it yet: nothing, unless it was written before. */
	if (!nf_ckpt_ct_worth(ct) && (!id || !nf_ckpt_conn_lookup(cn, id)))
		return;
	if (!id) {
		if (nf_ckpt_ct_ended(ct))
			return;
		id = nf_ckpt_ct_get_or_assign_id(cn, ct, &fresh);
		if (!id)
			return;
	}

	c = nf_ckpt_conn_get(cn, id);
	if (!c) {
		/* No memory to remember anything: write it all. */
		if (!nf_ckpt_ct_ended(ct))
			nf_ckpt_write(cn, ct, id, NF_CKPT_ALL_LAYERS,
				      fresh ? 0 : NF_CKPT_ALL_LAYERS);
		return;
	}

	spin_lock_bh(&c->lock);
	if (nf_ckpt_ct_ended(ct)) {
		if (!(c->flags & NF_CKPT_CONN_ENDED)) {
			nf_ckpt_store_forget(cn->net, id);
			c->layers = 0;
			WRITE_ONCE(c->flags, c->flags | NF_CKPT_CONN_ENDED);
		}
		WRITE_ONCE(c->expires, now + nf_ckpt_expires_jiffies(ct));
		goto out;
	}

	nf_ckpt_fp_of(ct, &fp);
	if (!(c->flags & NF_CKPT_CONN_WRITTEN)) {
		/* Records of an older ID holder may be there: overwrite. */
		c->layers = fresh ? 0 : NF_CKPT_ALL_LAYERS;
		todo = NF_CKPT_ALL_LAYERS;
	} else if ((how & NF_CKPT_SYNC_FORCE) ||
		   (c->flags & NF_CKPT_CONN_ENDED) ||
		   !time_before32(now, c->next_refresh)) {
		todo = NF_CKPT_ALL_LAYERS;
	} else {
		if (fp.status != c->fp.status || fp.mark != c->fp.mark ||
		    fp.labels != c->fp.labels || fp.l4 != c->fp.l4)
			todo |= BIT(NF_CKPT_LAYER_BASE) | BIT(NF_CKPT_LAYER_L4);
		if (fp.helper != c->fp.helper)
			todo |= BIT(NF_CKPT_LAYER_HELPER);
		if (fp.seqadj != c->fp.seqadj)
			todo |= BIT(NF_CKPT_LAYER_SEQADJ);
		if (fp.expect != c->fp.expect)
			todo |= BIT(NF_CKPT_LAYER_EXPECT);
		if (!todo)
			goto out;	/* another CPU wrote it meanwhile */
	}

	c->layers = nf_ckpt_write(cn, ct, id, todo, c->layers);
	c->fp = fp;
	if (todo & BIT(NF_CKPT_LAYER_BASE))
		WRITE_ONCE(c->next_refresh,
			   now + nf_ckpt_interval_jiffies());
	WRITE_ONCE(c->expires, now + nf_ckpt_expires_jiffies(ct));
	/* relearn.c's mark outlives the writes. */
	WRITE_ONCE(c->flags, (c->flags & NF_CKPT_CONN_RELEARN) |
		   NF_CKPT_CONN_WRITTEN);
out:
	spin_unlock_bh(&c->lock);
}

/* The per-packet entry point.  Caller holds rcu_read_lock(). */
static void nf_ckpt_track(struct nf_ckpt_ct_net *cn, struct nf_conn *ct)
{
	struct nf_ckpt_conn *c;
	struct nf_ckpt_fp fp;
	u64 id;
	u8 flags;

	id = nf_ckpt_ct_id(cn, ct);
	if (likely(id)) {
		c = nf_ckpt_conn_lookup(cn, id);
		if (likely(c)) {
			flags = READ_ONCE(c->flags);
			if (flags & NF_CKPT_CONN_ENDED) {
				if (nf_ckpt_ct_ended(ct))
					return;
			} else if ((flags & NF_CKPT_CONN_WRITTEN) &&
				   time_before32((u32)jiffies,
						 READ_ONCE(c->next_refresh))) {
				nf_ckpt_fp_of(ct, &fp);
				/* Racy read: at worst a needless slow path. */
				if (!memcmp(&fp, &c->fp, sizeof(fp)))
					return;
			}
		}
	}
	nf_ckpt_sync(cn, ct, id, 0);
}

void nf_ckpt_ct_checkpoint(struct nf_ckpt_ct_net *cn, struct nf_conn *ct)
{
	rcu_read_lock();
	nf_ckpt_sync(cn, ct, nf_ckpt_ct_id(cn, ct), NF_CKPT_SYNC_FORCE);
	rcu_read_unlock();
}

void nf_ckpt_ct_refresh(struct nf_ckpt_ct_net *cn, struct nf_conn *ct)
{
	rcu_read_lock();
	nf_ckpt_track(cn, ct);
	rcu_read_unlock();
}

static struct nf_conn *nf_ckpt_skb_ct(const struct sk_buff *skb)
{
	enum ip_conntrack_info ctinfo;
	struct nf_conn *ct = nf_ct_get(skb, &ctinfo);

	if (!ct || nf_ct_is_template(ct) || nf_ct_is_dying(ct))
		return NULL;
	return ct;
}

/* PRE_ROUTING, LOCAL_OUT: after nf_conntrack_in(). */
static unsigned int nf_ckpt_hook_update(void *priv, struct sk_buff *skb,
					const struct nf_hook_state *state)
{
	struct nf_conn *ct = nf_ckpt_skb_ct(skb);

	if (ct && nf_ct_is_confirmed(ct))
		nf_ckpt_track(nf_ckpt_ct_pernet(nf_ct_net(ct)), ct);
	return NF_ACCEPT;
}

/* LOCAL_IN, POST_ROUTING: just before confirmation. */
static unsigned int nf_ckpt_hook_new(void *priv, struct sk_buff *skb,
				     const struct nf_hook_state *state)
{
	struct nf_conn *ct = nf_ckpt_skb_ct(skb);
	struct nf_ckpt_ct_net *cn;

	if (!ct || nf_ct_is_confirmed(ct))
		return NF_ACCEPT;
	cn = nf_ckpt_ct_pernet(nf_ct_net(ct));
	nf_ckpt_track(cn, ct);
	/* It consumed an expectation of its master. */
	if (ct->master)
		nf_ckpt_track(cn, ct->master);
	return NF_ACCEPT;
}

static const struct nf_hook_ops nf_ckpt_hook_ops[] = {
	{
		.hook		= nf_ckpt_hook_relearn,
		.pf		= NFPROTO_INET,
		.hooknum	= NF_INET_PRE_ROUTING,
		.priority	= NF_IP_PRI_CONNTRACK - 1,
	},
	{
		.hook		= nf_ckpt_hook_relearn,
		.pf		= NFPROTO_INET,
		.hooknum	= NF_INET_LOCAL_OUT,
		.priority	= NF_IP_PRI_CONNTRACK - 1,
	},
	{
		.hook		= nf_ckpt_hook_update,
		.pf		= NFPROTO_INET,
		.hooknum	= NF_INET_PRE_ROUTING,
		.priority	= NF_IP_PRI_CONNTRACK + 1,
	},
	{
		.hook		= nf_ckpt_hook_update,
		.pf		= NFPROTO_INET,
		.hooknum	= NF_INET_LOCAL_OUT,
		.priority	= NF_IP_PRI_CONNTRACK + 1,
	},
	{
		.hook		= nf_ckpt_hook_new,
		.pf		= NFPROTO_INET,
		.hooknum	= NF_INET_LOCAL_IN,
		.priority	= NF_IP_PRI_CONNTRACK_CONFIRM - 2,
	},
	{
		.hook		= nf_ckpt_hook_new,
		.pf		= NFPROTO_INET,
		.hooknum	= NF_INET_POST_ROUTING,
		.priority	= NF_IP_PRI_CONNTRACK_CONFIRM - 1,
	},
};

int nf_ckpt_hooks_register(struct net *net)
{
	BUILD_BUG_ON((int)NF_IP_PRI_CONNTRACK != (int)NF_IP6_PRI_CONNTRACK);
	BUILD_BUG_ON((int)NF_IP_PRI_CONNTRACK_CONFIRM != (int)NF_IP6_PRI_LAST);
	return nf_register_net_hooks(net, nf_ckpt_hook_ops,
				     ARRAY_SIZE(nf_ckpt_hook_ops));
}

/* The caller waits for packets in flight (synchronize_net()). */
void nf_ckpt_hooks_unregister(struct net *net)
{
	nf_unregister_net_hooks(net, nf_ckpt_hook_ops,
				ARRAY_SIZE(nf_ckpt_hook_ops));
}
