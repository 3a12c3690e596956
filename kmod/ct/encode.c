// SPDX-License-Identifier: GPL-2.0
/*
 * nf_ckpt_ct: record payloads.  One encoder per layer of
 * uapi/linux/nf_ckpt.h; each reads one conntrack and appends netlink
 * attributes to a flat buffer (no skb: the store copies the bytes).
 */

#include <linux/percpu.h>
#include <net/netlink.h>
#include <net/netfilter/nf_conntrack_expect.h>
#include <net/netfilter/nf_conntrack_helper.h>
#include <net/netfilter/nf_conntrack_labels.h>
#include <net/netfilter/nf_conntrack_seqadj.h>
#include <net/netfilter/nf_conntrack_zones.h>

#include "ct.h"

struct nf_ckpt_encode_area {
	u8 data[NF_CKPT_MAX_PAYLOAD];
};

static struct nf_ckpt_encode_area __percpu *nf_ckpt_areas;

int nf_ckpt_encode_init(void)
{
	nf_ckpt_areas = alloc_percpu(struct nf_ckpt_encode_area);
	return nf_ckpt_areas ? 0 : -ENOMEM;
}

void nf_ckpt_encode_exit(void)
{
	free_percpu(nf_ckpt_areas);
}

void *nf_ckpt_encode_buf(void)
{
	return this_cpu_ptr(nf_ckpt_areas)->data;
}

/* A NUL-terminated string of at most max bytes with its NUL. */
static int nf_ckpt_put_string(struct nf_ckpt_msg *m, int type, const char *s,
			      size_t max)
{
	size_t len = strnlen(s, max - 1);
	struct nlattr *nla = nf_ckpt_reserve(m, type, len + 1);

	if (!nla)
		return -EMSGSIZE;
	memcpy(nla_data(nla), s, len);
	((char *)nla_data(nla))[len] = '\0';
	return 0;
}

static void nf_ckpt_nest_cancel(struct nf_ckpt_msg *m, struct nlattr *start)
{
	m->len = (u8 *)start - m->data;
}

static int nf_ckpt_encode_tuple(struct nf_ckpt_msg *m, int type,
				const struct nf_conntrack_tuple *t,
				u16 l3num, u8 protonum)
{
	int alen = nf_ckpt_addr_len(l3num);
	struct nlattr *nest;

	nest = nf_ckpt_nest_start(m, type);
	if (!nest ||
	    nf_ckpt_put(m, NF_CKPT_TUPLE_A_SRC, alen, &t->src.u3) ||
	    nf_ckpt_put(m, NF_CKPT_TUPLE_A_DST, alen, &t->dst.u3))
		return -EMSGSIZE;
	if (nf_ckpt_proto_has_ports(protonum)) {
		if (nf_ckpt_put_be16(m, NF_CKPT_TUPLE_A_SPORT, t->src.u.all) ||
		    nf_ckpt_put_be16(m, NF_CKPT_TUPLE_A_DPORT, t->dst.u.all))
			return -EMSGSIZE;
	} else if (nf_ckpt_proto_is_icmp(protonum)) {
		if (nf_ckpt_put_be16(m, NF_CKPT_TUPLE_A_ICMP_ID,
				     t->src.u.icmp.id) ||
		    nf_ckpt_put_u8(m, NF_CKPT_TUPLE_A_ICMP_TYPE,
				   t->dst.u.icmp.type) ||
		    nf_ckpt_put_u8(m, NF_CKPT_TUPLE_A_ICMP_CODE,
				   t->dst.u.icmp.code))
			return -EMSGSIZE;
	}
	nf_ckpt_nest_end(m, nest);
	return 0;
}

unsigned long nf_ckpt_ct_timeout_left(const struct nf_conn *ct)
{
	/* Relative until __nf_conntrack_confirm() adds the time stamp. */
	if (!nf_ct_is_confirmed(ct))
		return READ_ONCE(ct->timeout);
	return nf_ct_expires(ct);
}

/*
 * The mapping a NAT manip made: for SNAT where the reply is sent to (reply
 * tuple's destination), for DNAT where it comes from (its source).  ICMP
 * keeps its (possibly remapped) id in the source part of both tuples.
 */
static int nf_ckpt_encode_nat(struct nf_ckpt_msg *m, int type,
			      const struct nf_conn *ct, bool snat)
{
	const struct nf_conntrack_tuple *r = &ct->tuplehash[IP_CT_DIR_REPLY].tuple;
	const union nf_inet_addr *addr = snat ? &r->dst.u3 : &r->src.u3;
	__be16 port = snat ? r->dst.u.all : r->src.u.all;
	struct nlattr *nest;

	if (nf_ckpt_proto_is_icmp(nf_ct_protonum(ct)))
		port = r->src.u.icmp.id;
	nest = nf_ckpt_nest_start(m, type);
	if (!nest ||
	    nf_ckpt_put(m, NF_CKPT_NAT_A_ADDR, nf_ckpt_addr_len(nf_ct_l3num(ct)),
			addr) ||
	    nf_ckpt_put_be16(m, NF_CKPT_NAT_A_PORT, port))
		return -EMSGSIZE;
	nf_ckpt_nest_end(m, nest);
	return 0;
}

int nf_ckpt_encode_base(struct nf_ckpt_msg *m, const struct nf_conn *ct,
			u64 master_id)
{
	const struct nf_conntrack_zone *zone = nf_ct_zone(ct);
	const struct nf_conn_labels *labels = nf_ct_labels_find(ct);
	unsigned long status = READ_ONCE(ct->status);
	u16 l3num = nf_ct_l3num(ct);
	u8 protonum = nf_ct_protonum(ct);
	u8 lbits[NF_CT_LABELS_MAX_SIZE];
	int d;

	if (nf_ckpt_put_u8(m, NF_CKPT_BASE_A_FAMILY, l3num) ||
	    nf_ckpt_put_u8(m, NF_CKPT_BASE_A_PROTO, protonum) ||
	    nf_ckpt_put_u16(m, NF_CKPT_BASE_A_ZONE, zone->id) ||
	    nf_ckpt_put_u8(m, NF_CKPT_BASE_A_ZONE_DIR, zone->dir))
		return -EMSGSIZE;
	for (d = IP_CT_DIR_ORIGINAL; d < IP_CT_DIR_MAX; d++)
		if (nf_ckpt_encode_tuple(m, d == IP_CT_DIR_ORIGINAL ?
					 NF_CKPT_BASE_A_TUPLE_ORIG :
					 NF_CKPT_BASE_A_TUPLE_REPLY,
					 &ct->tuplehash[d].tuple, l3num,
					 protonum))
			return -EMSGSIZE;
	if (nf_ckpt_put_u32(m, NF_CKPT_BASE_A_STATUS,
			    status & ~NF_CKPT_STATUS_VOLATILE) ||
	    nf_ckpt_put_u32(m, NF_CKPT_BASE_A_MARK, READ_ONCE(ct->mark)))
		return -EMSGSIZE;
	if (labels) {
		BUILD_BUG_ON(sizeof(labels->bits) != sizeof(lbits));
		memcpy(lbits, labels->bits, sizeof(lbits));
		memset(lbits + NF_CKPT_LABEL_ID_BIT / BITS_PER_BYTE, 0,
		       sizeof(lbits) - NF_CKPT_LABEL_ID_BIT / BITS_PER_BYTE);
		if (nf_ckpt_put(m, NF_CKPT_BASE_A_LABELS, sizeof(lbits), lbits))
			return -EMSGSIZE;
	}
	if (nf_ckpt_put_u64(m, NF_CKPT_BASE_A_TIMEOUT_MS,
			    jiffies64_to_msecs(nf_ckpt_ct_timeout_left(ct))))
		return -EMSGSIZE;
	if ((status & IPS_SRC_NAT) &&
	    nf_ckpt_encode_nat(m, NF_CKPT_BASE_A_NAT_SRC, ct, true))
		return -EMSGSIZE;
	if ((status & IPS_DST_NAT) &&
	    nf_ckpt_encode_nat(m, NF_CKPT_BASE_A_NAT_DST, ct, false))
		return -EMSGSIZE;
	if (master_id &&
	    nf_ckpt_put_u64(m, NF_CKPT_BASE_A_MASTER_ID, master_id))
		return -EMSGSIZE;
	return 0;
}

static int nf_ckpt_encode_tcp_dir(struct nf_ckpt_msg *m, int type,
				  const struct ip_ct_tcp_state *s)
{
	struct nlattr *nest = nf_ckpt_nest_start(m, type);

	if (!nest ||
	    nf_ckpt_put_u32(m, NF_CKPT_TCPW_A_END, s->td_end) ||
	    nf_ckpt_put_u32(m, NF_CKPT_TCPW_A_MAXEND, s->td_maxend) ||
	    nf_ckpt_put_u32(m, NF_CKPT_TCPW_A_MAXWIN, s->td_maxwin) ||
	    nf_ckpt_put_u32(m, NF_CKPT_TCPW_A_MAXACK, s->td_maxack) ||
	    nf_ckpt_put_u8(m, NF_CKPT_TCPW_A_WSCALE, s->td_scale) ||
	    nf_ckpt_put_u8(m, NF_CKPT_TCPW_A_FLAGS, s->flags))
		return -EMSGSIZE;
	nf_ckpt_nest_end(m, nest);
	return 0;
}

static int nf_ckpt_encode_tcp(struct nf_ckpt_msg *m, struct nf_conn *ct)
{
	struct nlattr *nest;
	struct ip_ct_tcp t;

	spin_lock_bh(&ct->lock);
	t = ct->proto.tcp;
	spin_unlock_bh(&ct->lock);

	nest = nf_ckpt_nest_start(m, NF_CKPT_L4_A_TCP);
	if (!nest ||
	    nf_ckpt_put_u8(m, NF_CKPT_TCP_A_STATE, t.state) ||
	    nf_ckpt_encode_tcp_dir(m, NF_CKPT_TCP_A_ORIG,
				   &t.seen[IP_CT_DIR_ORIGINAL]) ||
	    nf_ckpt_encode_tcp_dir(m, NF_CKPT_TCP_A_REPLY,
				   &t.seen[IP_CT_DIR_REPLY]) ||
	    nf_ckpt_put_u8(m, NF_CKPT_TCP_A_LAST_DIR, t.last_dir) ||
	    nf_ckpt_put_u8(m, NF_CKPT_TCP_A_RETRANS, t.retrans) ||
	    nf_ckpt_put_u8(m, NF_CKPT_TCP_A_LAST_INDEX, t.last_index) ||
	    nf_ckpt_put_u32(m, NF_CKPT_TCP_A_LAST_SEQ, t.last_seq) ||
	    nf_ckpt_put_u32(m, NF_CKPT_TCP_A_LAST_ACK, t.last_ack) ||
	    nf_ckpt_put_u32(m, NF_CKPT_TCP_A_LAST_END, t.last_end) ||
	    nf_ckpt_put_u16(m, NF_CKPT_TCP_A_LAST_WIN, t.last_win) ||
	    nf_ckpt_put_u8(m, NF_CKPT_TCP_A_LAST_WSCALE, t.last_wscale) ||
	    nf_ckpt_put_u8(m, NF_CKPT_TCP_A_LAST_FLAGS, t.last_flags))
		return -EMSGSIZE;
	nf_ckpt_nest_end(m, nest);
	return 0;
}

static int nf_ckpt_encode_sctp(struct nf_ckpt_msg *m, struct nf_conn *ct)
{
	struct nlattr *nest;
	struct ip_ct_sctp s;

	spin_lock_bh(&ct->lock);
	s = ct->proto.sctp;
	spin_unlock_bh(&ct->lock);

	nest = nf_ckpt_nest_start(m, NF_CKPT_L4_A_SCTP);
	if (!nest ||
	    nf_ckpt_put_u8(m, NF_CKPT_SCTP_A_STATE, s.state) ||
	    nf_ckpt_put_be32(m, NF_CKPT_SCTP_A_VTAG_ORIG,
			     s.vtag[IP_CT_DIR_ORIGINAL]) ||
	    nf_ckpt_put_be32(m, NF_CKPT_SCTP_A_VTAG_REPLY,
			     s.vtag[IP_CT_DIR_REPLY]) ||
	    nf_ckpt_put_u8(m, NF_CKPT_SCTP_A_INIT_ORIG,
			   s.init[IP_CT_DIR_ORIGINAL]) ||
	    nf_ckpt_put_u8(m, NF_CKPT_SCTP_A_INIT_REPLY,
			   s.init[IP_CT_DIR_REPLY]) ||
	    nf_ckpt_put_u8(m, NF_CKPT_SCTP_A_LAST_DIR, s.last_dir) ||
	    nf_ckpt_put_u8(m, NF_CKPT_SCTP_A_FLAGS, s.flags))
		return -EMSGSIZE;
	nf_ckpt_nest_end(m, nest);
	return 0;
}

int nf_ckpt_encode_l4(struct nf_ckpt_msg *m, struct nf_conn *ct)
{
	struct nlattr *nest;

	switch (nf_ct_protonum(ct)) {
	case IPPROTO_TCP:
		return nf_ckpt_encode_tcp(m, ct);
	case IPPROTO_SCTP:
		return nf_ckpt_encode_sctp(m, ct);
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		/* udp_packet() sets ASSURED once it calls the flow a stream */
		if (!test_bit(IPS_ASSURED_BIT, &ct->status))
			return 0;
		nest = nf_ckpt_nest_start(m, NF_CKPT_L4_A_UDP);
		if (!nest || nf_ckpt_put_flag(m, NF_CKPT_UDP_A_STREAM))
			return -EMSGSIZE;
		nf_ckpt_nest_end(m, nest);
		return 0;
	}
	return 0;
}

int nf_ckpt_encode_helper(struct nf_ckpt_msg *m, const struct nf_conn *ct)
{
	const struct nf_conntrack_helper *helper;
	const struct nf_conn_help *help = nfct_help(ct);
	int err = 0;

	if (!help)
		return 0;
	rcu_read_lock();
	helper = rcu_dereference(help->helper);
	if (helper) {
		size_t len = nf_ckpt_helper_data_len(helper);

		if (nf_ckpt_put_string(m, NF_CKPT_HELPER_A_NAME, helper->name,
				       NF_CT_HELPER_NAME_LEN) ||
		    (len && nf_ckpt_put(m, NF_CKPT_HELPER_A_DATA, len,
					help->data)))
			err = -EMSGSIZE;
	}
	rcu_read_unlock();
	return err;
}

static int nf_ckpt_encode_seqadj_dir(struct nf_ckpt_msg *m, int type,
				     const struct nf_ct_seqadj *s)
{
	struct nlattr *nest = nf_ckpt_nest_start(m, type);

	if (!nest ||
	    nf_ckpt_put_u32(m, NF_CKPT_SEQADJ_DIR_A_POS, s->correction_pos) ||
	    nf_ckpt_put_u32(m, NF_CKPT_SEQADJ_DIR_A_BEFORE,
			    (u32)s->offset_before) ||
	    nf_ckpt_put_u32(m, NF_CKPT_SEQADJ_DIR_A_AFTER,
			    (u32)s->offset_after))
		return -EMSGSIZE;
	nf_ckpt_nest_end(m, nest);
	return 0;
}

int nf_ckpt_encode_seqadj(struct nf_ckpt_msg *m, struct nf_conn *ct)
{
	struct nf_conn_seqadj *seqadj, s;

	if (!test_bit(IPS_SEQ_ADJUST_BIT, &ct->status))
		return 0;
	seqadj = nfct_seqadj(ct);
	if (!seqadj)
		return 0;

	spin_lock_bh(&ct->lock);
	s = *seqadj;
	spin_unlock_bh(&ct->lock);

	if (nf_ckpt_encode_seqadj_dir(m, NF_CKPT_SEQADJ_A_ORIG,
				      &s.seq[IP_CT_DIR_ORIGINAL]) ||
	    nf_ckpt_encode_seqadj_dir(m, NF_CKPT_SEQADJ_A_REPLY,
				      &s.seq[IP_CT_DIR_REPLY]))
		return -EMSGSIZE;
	return 0;
}

/* The mask as ctnetlink dumps it: source from the mask, the rest ones. */
static int nf_ckpt_encode_exp_mask(struct nf_ckpt_msg *m,
				   const struct nf_conntrack_expect *exp)
{
	struct nf_conntrack_tuple t;

	memset(&t, 0xff, sizeof(t));
	t.src.u3 = exp->mask.src.u3;
	t.src.u.all = exp->mask.src.u.all;
	return nf_ckpt_encode_tuple(m, NF_CKPT_EXP_A_MASK, &t,
				    exp->tuple.src.l3num,
				    exp->tuple.dst.protonum);
}

static int nf_ckpt_encode_exp(struct nf_ckpt_msg *m, const struct nf_conn *ct,
			      const struct nf_conntrack_expect *exp)
{
	static const union nf_inet_addr any_addr;
	const struct nf_ct_helper_expectfn *fn;
	const struct nf_conntrack_helper *helper;
	s32 left = (s32)(READ_ONCE(exp->timeout) - nfct_time_stamp);
	u16 l3num = exp->tuple.src.l3num;

	if (nf_ckpt_encode_tuple(m, NF_CKPT_EXP_A_TUPLE, &exp->tuple, l3num,
				 exp->tuple.dst.protonum) ||
	    nf_ckpt_encode_exp_mask(m, exp) ||
	    nf_ckpt_put_u8(m, NF_CKPT_EXP_A_PROTO, exp->tuple.dst.protonum) ||
	    nf_ckpt_put_u32(m, NF_CKPT_EXP_A_CLASS, exp->class) ||
	    nf_ckpt_put_u32(m, NF_CKPT_EXP_A_FLAGS,
			    READ_ONCE(exp->flags) & NF_CT_EXPECT_MASK) ||
	    nf_ckpt_put_u64(m, NF_CKPT_EXP_A_TIMEOUT_MS,
			    jiffies64_to_msecs(max(left, 0))))
		return -EMSGSIZE;

	helper = rcu_dereference(exp->helper);
	if (helper &&
	    nf_ckpt_put_string(m, NF_CKPT_EXP_A_HELPER, helper->name,
			       NF_CT_HELPER_NAME_LEN))
		return -EMSGSIZE;
	helper = rcu_dereference(exp->assign_helper);
	if (helper &&
	    nf_ckpt_put_string(m, NF_CKPT_EXP_A_ASSIGN_HELPER, helper->name,
			       NF_CT_HELPER_NAME_LEN))
		return -EMSGSIZE;
	fn = exp->expectfn ?
	     nf_ct_helper_expectfn_find_by_symbol(exp->expectfn) : NULL;
	if (fn && nf_ckpt_put_string(m, NF_CKPT_EXP_A_FN, fn->name, 32))
		return -EMSGSIZE;

	if (!nf_inet_addr_cmp(&exp->saved_addr, &any_addr) ||
	    exp->saved_proto.all) {
		if (nf_ckpt_put_u8(m, NF_CKPT_EXP_A_DIR, exp->dir) ||
		    nf_ckpt_put(m, NF_CKPT_EXP_A_SAVED_ADDR,
				nf_ckpt_addr_len(nf_ct_l3num(ct)),
				&exp->saved_addr) ||
		    nf_ckpt_put_be16(m, NF_CKPT_EXP_A_SAVED_PORT,
				     exp->saved_proto.all))
			return -EMSGSIZE;
	}
	return 0;
}

/*
 * The pending expectations of a master.  Those that do not fit in one
 * record are left out (a helper has a handful at most).
 */
int nf_ckpt_encode_expect(struct nf_ckpt_msg *m, const struct nf_conn *ct)
{
	const struct nf_conn_help *help = nfct_help(ct);
	struct nf_conntrack_expect *exp;
	struct nlattr *item;
	int err = 0;

	if (!help)
		return 0;
	rcu_read_lock();
	hlist_for_each_entry_rcu(exp, &help->expectations, lnode) {
		if (nf_ct_exp_is_expired(exp))
			continue;
		item = nf_ckpt_nest_start(m, NF_CKPT_EXPECT_A_ITEM);
		if (!item) {
			err = -EMSGSIZE;
			break;
		}
		if (nf_ckpt_encode_exp(m, ct, exp)) {
			nf_ckpt_nest_cancel(m, item);
			err = -EMSGSIZE;
			break;
		}
		nf_ckpt_nest_end(m, item);
	}
	rcu_read_unlock();
	/* What fits is still worth writing. */
	return m->len ? 0 : err;
}
