// SPDX-License-Identifier: GPL-2.0
/*
 * nf_ckpt_ct: helping conntrack re-learn the windows of restored TCP
 * connections.
 *
 * A restored TCP conntrack has td_maxwin = 0 in both directions, and
 * tcp_in_window() initialises a direction from its first segment, as for
 * a connection picked up mid-stream: td_end = the segment's end.  Two
 * orders of segments then make it refuse a good ACK for ever ("ACK is over
 * upper bound"), because the outage lost ACKs and the sender retransmits
 * data the peer already has:
 *   - the data side speaks first, with a retransmission: its td_end is set
 *     below what the peer has received, and the peer's ACKs are INVALID;
 *   - the ACK side speaks first: conntrack sets the data side's td_end to
 *     that ACK, then the data side's first segment (a retransmission)
 *     lowers it again.
 * Under a strict ruleset the flow is dead either way, and retransmitting
 * does not help: the sender waits for an ACK that is dropped.
 *
 * Just before nf_conntrack_in(), for the first segment of a direction of
 * a restored TCP conntrack (its td_maxwin still 0, the other direction
 * re-learnt already):
 *   - what the segment acknowledges (ACK, and SACK blocks when the peer
 *     allowed them) raises the peer's td_end: the trust tcp_in_window()
 *     gives the first segment of a mid-stream pickup when the peer is not
 *     known yet;
 *   - if the direction's td_end is beyond the segment already, the
 *     direction is initialised here, keeping it, so that tcp_in_window()
 *     does not lower it.
 * Everything after that is checked by tcp_in_window() alone.
 *
 * That trust is given to as little as possible, as this runs before
 * conntrack has looked at the segment:
 *   - only conntracks a restore re-created, marked in their nf_ckpt_conn
 *     (module memory: nothing userspace can set through ctnetlink), until
 *     both directions are re-learnt; a SYN_SENT conntrack, one created by
 *     ctnetlink or picked up mid-stream also has a direction with
 *     td_maxwin 0 and is left alone.  A restore that finds in the table
 *     a conntrack carrying the record's own ID with a direction still to
 *     re-learn marks it again: an earlier nf_ckpt_ct re-created it and its
 *     mark went with that module (ctnetlink's caller could label one so,
 *     but could as well make it liberal);
 *   - only segments tcp_error() would let through: whole header, sane
 *     data offset, the checksum where conntrack verifies it; SYN and RST
 *     segments teach nothing (and with ACK required and SYN and RST
 *     excluded, every flag combination left is a valid one);
 *   - only within the window the restore gave the conntrack (see
 *     nf_ckpt_relearn_plausible()).
 * The hook costs one comparison per packet except within
 * NF_CKPT_RELEARN_SECS of a restore that re-created TCP conntracks in
 * that netns.
 */

#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <net/ipv6.h>
#include <net/tcp.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <net/netfilter/nf_conntrack_seqadj.h>
#include <net/netfilter/nf_conntrack_zones.h>

#include "ct.h"

/*
 * Retransmissions of a flow caught in the outage come within the RTO
 * backoff (at most TCP_RTO_MAX apart); a connection idle across the
 * outage had nothing in flight and needs no help.
 */
#define NF_CKPT_RELEARN_SECS	600

/* The latest end of any netns's window: one load on the fast path. */
static unsigned long nf_ckpt_relearn_any;

/* jiffies starts 5 minutes before wrapping: 0 is not "long ago". */
void nf_ckpt_relearn_init(void)
{
	WRITE_ONCE(nf_ckpt_relearn_any, jiffies);
}

void nf_ckpt_relearn_net_init(struct nf_ckpt_ct_net *cn)
{
	cn->relearn_until = jiffies;
}

static void nf_ckpt_relearn_start(struct nf_ckpt_ct_net *cn)
{
	unsigned long until = jiffies + NF_CKPT_RELEARN_SECS * HZ;

	WRITE_ONCE(cn->relearn_until, until);
	/* Restores run under the store's per-netns walk; racing is harmless. */
	if (time_after(until, READ_ONCE(nf_ckpt_relearn_any)))
		WRITE_ONCE(nf_ckpt_relearn_any, until);
}

/*
 * Mark ct for the hook's help, with its windows as they are now.  Only
 * when a direction is still to be re-learnt if pending_only: the mark of
 * a conntrack an earlier nf_ckpt_ct restored went with that module.
 */
static void nf_ckpt_relearn_mark(struct nf_ckpt_ct_net *cn, struct nf_conn *ct,
				 bool pending_only)
{
	const struct ip_ct_tcp_state *seen = ct->proto.tcp.seen;
	u32 end[IP_CT_DIR_MAX], maxend[IP_CT_DIR_MAX];
	struct nf_ckpt_conn *c;
	bool pending = false;
	u32 until;
	int i;
	u64 id;

	if (nf_ct_protonum(ct) != IPPROTO_TCP ||
	    !READ_ONCE(nf_ckpt_relearn_assist))
		return;
	/* In the table already: a packet may be re-learning it meanwhile. */
	spin_lock_bh(&ct->lock);
	for (i = 0; i < IP_CT_DIR_MAX; i++) {
		end[i] = seen[i].td_end;
		maxend[i] = seen[i].td_maxend;
		if (!seen[i].td_maxwin)
			pending = true;
	}
	spin_unlock_bh(&ct->lock);
	if (pending_only && !pending)
		return;

	rcu_read_lock();
	id = nf_ckpt_ct_get_or_assign_id(cn, ct, NULL);
	/* Without an entry the conntrack re-learns on its own. */
	c = id ? nf_ckpt_conn_get(cn, id) : NULL;
	if (c) {
		until = (u32)jiffies + NF_CKPT_RELEARN_SECS * HZ;
		spin_lock_bh(&c->lock);
		memcpy(c->relearn_end, end, sizeof(end));
		memcpy(c->relearn_maxend, maxend, sizeof(maxend));
		/* GC keeps the entry (and the mark) for the whole window. */
		if (time_before32(c->expires, until))
			WRITE_ONCE(c->expires, until);
		/* The window before the mark: the hook reads it locklessly. */
		smp_wmb();
		WRITE_ONCE(c->flags, c->flags | NF_CKPT_CONN_RELEARN);
		spin_unlock_bh(&c->lock);
	}
	rcu_read_unlock();
	if (c)
		nf_ckpt_relearn_start(cn);
}

void nf_ckpt_relearn_restored(struct nf_ckpt_ct_net *cn, struct nf_conn *ct)
{
	nf_ckpt_relearn_mark(cn, ct, false);
}

void nf_ckpt_relearn_existing(struct nf_ckpt_ct_net *cn, struct nf_conn *ct)
{
	nf_ckpt_relearn_mark(cn, ct, true);
}

static void nf_ckpt_relearn_done(struct nf_ckpt_conn *c)
{
	spin_lock_bh(&c->lock);
	WRITE_ONCE(c->flags, c->flags & ~NF_CKPT_CONN_RELEARN);
	spin_unlock_bh(&c->lock);
}

/* The largest right edge of the SACK blocks, if beyond *sack. */
static void nf_ckpt_tcp_sack(const struct sk_buff *skb, unsigned int dataoff,
			     const struct tcphdr *th, u32 *sack)
{
	u8 buf[MAX_TCP_OPTION_SPACE];
	int len = th->doff * 4 - (int)sizeof(*th);
	const u8 *p;
	int i;

	if (len <= 0)
		return;
	p = skb_header_pointer(skb, dataoff + sizeof(*th), len, buf);
	if (!p)
		return;
	while (len > 0) {
		u8 kind = p[0], size;

		if (kind == TCPOPT_EOL)
			return;
		if (kind == TCPOPT_NOP) {
			p++;
			len--;
			continue;
		}
		if (len < 2)
			return;
		size = p[1];
		if (size < 2 || size > len)
			return;
		if (kind == TCPOPT_SACK && size >= TCPOLEN_SACK_BASE +
		    TCPOLEN_SACK_PERBLOCK && !((size - TCPOLEN_SACK_BASE) %
					       TCPOLEN_SACK_PERBLOCK)) {
			for (i = TCPOLEN_SACK_BASE; i < size;
			     i += TCPOLEN_SACK_PERBLOCK) {
				u32 right = get_unaligned_be32(p + i + 4);

				if (after(right, *sack))
					*sack = right;
			}
			return;
		}
		p += size;
		len -= size;
	}
}

/* As tcp_in_window() computes a segment's end. */
static u32 nf_ckpt_tcp_end(const struct sk_buff *skb, unsigned int dataoff,
			   const struct tcphdr *th)
{
	return ntohl(th->seq) + skb->len - dataoff - th->doff * 4 +
	       (th->syn ? 1 : 0) + (th->fin ? 1 : 0);
}

/* The largest window a direction with this scale can advertise. */
static u32 nf_ckpt_win_max(const struct ip_ct_tcp_state *s)
{
	return (u32)U16_MAX << s->td_scale;
}

/*
 * Whether a segment of dir ending at end and acknowledging up to sack fits
 * the window the restore gave the conntrack (c->relearn_*), in the spirit
 * of tcp_in_window()'s checks:
 *   - "ACK is over upper bound" (sack <= receiver td_end): the receiver
 *     cannot have sent beyond what its peer let it send.  The restore
 *     says how far that was at the checkpoint (the receiver's td_maxend);
 *     since then (at most update_interval_ms of traffic before the crash)
 *     the sender may have opened its window further: one more of the
 *     largest windows the sender can advertise (65535 << its scale; the
 *     record's td_maxwin is not kept by the restore) is allowed beyond it.
 *   - "SEQ is over the upper bound" / "under the lower bound": the
 *     sender's data ends within its own restored window, by the same
 *     slack of the receiver's largest window on either side (below its
 *     td_end: a retransmission of data the outage left unacknowledged).
 * A spoofed segment must thus guess the tuple and both sequence spaces to
 * within a window, as for any segment tcp_in_window() accepts; one that
 * does not fit is left to conntrack alone.
 */
static bool nf_ckpt_relearn_plausible(const struct nf_ckpt_conn *c,
				      const struct nf_conn *ct,
				      enum ip_conntrack_dir dir, u32 end,
				      u32 sack)
{
	const struct ip_ct_tcp_state *sender = &ct->proto.tcp.seen[dir];
	const struct ip_ct_tcp_state *receiver = &ct->proto.tcp.seen[!dir];
	u32 swin = nf_ckpt_win_max(sender), rwin = nf_ckpt_win_max(receiver);

	return !after(sack, c->relearn_maxend[!dir] + swin) &&
	       !after(end, c->relearn_maxend[dir] + rwin) &&
	       after(end, c->relearn_end[dir] - rwin - 1);
}

/* Returns true once both directions of ct are re-learnt. */
static bool nf_ckpt_relearn_segment(const struct nf_ckpt_conn *c,
				    struct nf_conn *ct,
				    enum ip_conntrack_dir dir,
				    const struct sk_buff *skb,
				    unsigned int dataoff,
				    const struct tcphdr *th)
{
	struct ip_ct_tcp_state *sender = &ct->proto.tcp.seen[dir];
	struct ip_ct_tcp_state *receiver = &ct->proto.tcp.seen[!dir];
	u32 end = nf_ckpt_tcp_end(skb, dataoff, th);
	u32 ack = ntohl(th->ack_seq), sack = ack, swin;
	bool done;

	spin_lock_bh(&ct->lock);
	if (sender->td_maxwin || !receiver->td_maxwin)
		goto out;

	if (receiver->flags & IP_CT_TCP_FLAG_SACK_PERM)
		nf_ckpt_tcp_sack(skb, dataoff, th, &sack);
	/* tcp_in_window() takes NAT sequence mangling out of the ACK. */
	sack -= nf_ct_seq_offset(ct, !dir, ack - 1);
	if (!nf_ckpt_relearn_plausible(c, ct, dir, end, sack))
		goto out;
	if (after(sack, receiver->td_end))
		receiver->td_end = sack;

	if (after(sender->td_end, end)) {
		swin = (u32)ntohs(th->window) << sender->td_scale;
		sender->td_maxwin = swin ? swin : 1;
		if (after(sender->td_end + sender->td_maxwin,
			  sender->td_maxend))
			sender->td_maxend = sender->td_end + sender->td_maxwin;
	}
out:
	/* Either re-learnt here or by tcp_in_window() earlier. */
	done = sender->td_maxwin && receiver->td_maxwin;
	spin_unlock_bh(&ct->lock);
	return done;
}

static int nf_ckpt_tcp_dataoff(struct sk_buff *skb, u8 pf,
			       unsigned int *dataoff)
{
	unsigned int nhoff = skb_network_offset(skb);
	__be16 frag_off;
	u8 nexthdr;
	int off;

	if (pf == NFPROTO_IPV4) {
		const struct iphdr *iph;
		struct iphdr _iph;

		iph = skb_header_pointer(skb, nhoff, sizeof(_iph), &_iph);
		if (!iph || iph->protocol != IPPROTO_TCP ||
		    iph->frag_off & htons(IP_OFFSET))
			return -1;
		*dataoff = nhoff + iph->ihl * 4;
		return 0;
	}
	if (pf != NFPROTO_IPV6)
		return -1;
	if (!pskb_may_pull(skb, nhoff + sizeof(struct ipv6hdr)))
		return -1;
	nexthdr = ipv6_hdr(skb)->nexthdr;
	off = ipv6_skip_exthdr(skb, nhoff + sizeof(struct ipv6hdr), &nexthdr,
			       &frag_off);
	if (off < 0 || nexthdr != IPPROTO_TCP || (frag_off & htons(~0x7)))
		return -1;
	*dataoff = off;
	return 0;
}

/* What tcp_error() refuses, bar the flags (see the top of this file). */
static bool nf_ckpt_tcp_valid(struct sk_buff *skb, unsigned int dataoff,
			      const struct tcphdr *th,
			      const struct nf_hook_state *state)
{
	if (th->doff * 4 < sizeof(*th) || skb->len - dataoff < th->doff * 4)
		return false;
	/* Conntrack verifies it at PRE_ROUTING only: so do we. */
	return !(state->net->ct.sysctl_checksum &&
		 state->hook == NF_INET_PRE_ROUTING &&
		 nf_checksum(skb, state->hook, dataoff, IPPROTO_TCP,
			     state->pf));
}

/* The mark of a conntrack a restore re-created; caller holds RCU. */
static struct nf_ckpt_conn *nf_ckpt_relearn_conn(struct nf_ckpt_ct_net *cn,
						 const struct nf_conn *ct)
{
	struct nf_ckpt_conn *c;
	u64 id = nf_ckpt_ct_id(cn, ct);

	if (!id)
		return NULL;
	c = nf_ckpt_conn_lookup(cn, id);
	if (!c || !(READ_ONCE(c->flags) & NF_CKPT_CONN_RELEARN))
		return NULL;
	/* Pairs with nf_ckpt_relearn_restored(): the window, then the mark. */
	smp_rmb();
	return c;
}

static void nf_ckpt_relearn_skb(struct nf_ckpt_ct_net *cn, struct sk_buff *skb,
				const struct nf_hook_state *state)
{
	const struct nf_conntrack_zone *zone;
	struct nf_conntrack_tuple_hash *h;
	struct nf_conntrack_tuple tuple;
	struct nf_conntrack_zone tmp;
	enum ip_conntrack_info ctinfo;
	struct net *net = state->net;
	const struct tcphdr *th;
	struct nf_ckpt_conn *c;
	unsigned int dataoff;
	struct tcphdr _th;
	struct nf_conn *tmpl, *ct;

	tmpl = nf_ct_get(skb, &ctinfo);
	if (tmpl && !nf_ct_is_template(tmpl))
		return;
	if (nf_ckpt_tcp_dataoff(skb, state->pf, &dataoff))
		return;
	th = skb_header_pointer(skb, dataoff, sizeof(_th), &_th);
	/* SYNs re-initialise a direction, RSTs end it: conntrack's own. */
	if (!th || th->syn || th->rst || !th->ack)
		return;
	if (!nf_ct_get_tuplepr(skb, skb_network_offset(skb), state->pf, net,
			       &tuple))
		return;
	zone = nf_ct_zone_tmpl(tmpl, skb, &tmp);
	h = nf_conntrack_find_get(net, zone, &tuple);
	if (!h)
		return;
	ct = nf_ct_tuplehash_to_ctrack(h);
	if (nf_ct_protonum(ct) != IPPROTO_TCP)
		goto put;
	c = nf_ckpt_relearn_conn(cn, ct);
	/* The checksum last: only for segments of marked conntracks. */
	if (c && nf_ckpt_tcp_valid(skb, dataoff, th, state) &&
	    nf_ckpt_relearn_segment(c, ct, NF_CT_DIRECTION(h), skb, dataoff,
				    th))
		nf_ckpt_relearn_done(c);
put:
	nf_ct_put(ct);
}

/* PRE_ROUTING, LOCAL_OUT: just before nf_conntrack_in(). */
unsigned int nf_ckpt_hook_relearn(void *priv, struct sk_buff *skb,
				  const struct nf_hook_state *state)
{
	struct nf_ckpt_ct_net *cn;

	if (likely(!time_before(jiffies, READ_ONCE(nf_ckpt_relearn_any))))
		return NF_ACCEPT;
	/* Turned off meanwhile: the windows already open close too. */
	if (!READ_ONCE(nf_ckpt_relearn_assist))
		return NF_ACCEPT;
	cn = nf_ckpt_ct_pernet(state->net);
	if (time_before(jiffies, READ_ONCE(cn->relearn_until)))
		nf_ckpt_relearn_skb(cn, skb, state);
	return NF_ACCEPT;
}
