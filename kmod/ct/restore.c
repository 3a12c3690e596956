// SPDX-License-Identifier: GPL-2.0
/*
 * nf_ckpt_ct: reassembly by ID.  Walks the store of a netns in ID order
 * and re-creates, for every ID, the conntrack its records describe: BASE
 * first (tuples, zone, status, mark, labels with the ID, timeout, NAT,
 * master), then L4, HELPER and SEQADJ into the same conntrack before it
 * is inserted, as ctnetlink_create_conntrack() does.  Expectations come
 * last, once every master is back.
 *
 * Order: an ID whose master is not in the table yet (masters usually have
 * the lower ID, but not always: IDs given to conntracks that existed when
 * the module loaded follow the table's order) is retried after the walk.
 *
 * TCP: the whole of struct ip_ct_tcp is restored (state, flags, window
 * scale, td_*, last_*), except that td_maxwin is cleared in both
 * directions: the endpoints have moved on since the checkpoint, so each
 * direction re-learns its window from its next segment (what flow
 * offload does when it hands a flow back), after which tcp_in_window()
 * checks every segment strictly again (relearn.c keeps the first
 * segments' ACKs from being refused when the outage lost some).  The
 * liberal flag is copied as it was recorded, never added.
 *
 * A conntrack that already exists with the recorded original tuple is
 * kept as it is and given the ID back; if it carries another ID already
 * (a new flow with the same tuple), the records of the old ID go, so that
 * nothing is recorded twice.
 */

#include <linux/kmod.h>
#include <linux/netfilter.h>
#include <linux/slab.h>
#include <net/netlink.h>
#include <net/tcp.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_acct.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <net/netfilter/nf_conntrack_ecache.h>
#include <net/netfilter/nf_conntrack_expect.h>
#include <net/netfilter/nf_conntrack_helper.h>
#include <net/netfilter/nf_conntrack_labels.h>
#include <net/netfilter/nf_conntrack_seqadj.h>
#include <net/netfilter/nf_conntrack_synproxy.h>
#include <net/netfilter/nf_conntrack_timestamp.h>
#include <net/netfilter/nf_conntrack_zones.h>
#include <net/netfilter/nf_nat.h>
#include <uapi/linux/netfilter/nfnetlink_conntrack.h>

#include "ct.h"

/* Status bits a record may bring back; the others are derived. */
#define NF_CKPT_STATUS_RESTORE	(IPS_SEEN_REPLY | IPS_ASSURED | \
				 IPS_FIXED_TIMEOUT)

/* Why one connection was not restored (indexes the stats). */
enum nf_ckpt_fail {
	NF_CKPT_OK,
	NF_CKPT_EXISTING,
	NF_CKPT_DEFER,		/* master not there yet: retry later */
	NF_CKPT_SKIP,		/* timed out since its checkpoint */
	/* The failures, last: >= NF_CKPT_FAIL_NOMEM. */
	NF_CKPT_FAIL_NOMEM,
	NF_CKPT_FAIL_NOSPC,
	NF_CKPT_FAIL_HELPER,
	NF_CKPT_FAIL_NAT,
	NF_CKPT_FAIL_INVAL,
	NF_CKPT_FAIL_OTHER,
};

struct nf_ckpt_idlist {
	u64	*ids;
	size_t	n;
	size_t	cap;
};

#define NF_CKPT_MISSING_MAX	8

/* One restore run over one netns. */
struct nf_ckpt_run {
	struct net			*net;
	struct nf_ckpt_ct_net		*cn;
	struct nf_ckpt_restore_stats	*st;
	bool				dry_run;
	bool				may_load;	/* request_module() */
	bool				last_pass;	/* no more deferring */
	/*
	 * Modules asked for: a file naming an unknown helper in every
	 * record must not run modprobe once per record, so a run asks at
	 * most NF_CKPT_MISSING_MAX times, and never for the same name twice.
	 */
	bool				nat_asked;
	unsigned int			nasked;
	char				asked[NF_CKPT_MISSING_MAX]
					     [NF_CT_HELPER_NAME_LEN];
	struct nf_ckpt_idlist		deferred;
	struct nf_ckpt_idlist		expects;
	struct nf_ckpt_snap		cur;	/* the ID being restored */
	struct nf_ckpt_snap		aux;	/* its master's */
};

/* A BASE record, parsed. */
struct nf_ckpt_base {
	u8				family;
	u8				proto;
	struct nf_conntrack_zone	zone;
	struct nf_conntrack_tuple	tuple[IP_CT_DIR_MAX];
	u32				status;
	u32				mark;
	const u8			*labels;	/* 16 bytes or NULL */
	u64				timeout_ms;
	const struct nlattr		*nat[2];	/* SRC, DST */
	u64				master_id;
};

/*
 * Record payloads are parsed without a policy: the store validated every
 * one of them against its layer's policy (nested ones included) when it
 * was put or loaded (nf_ckpt_validate_payload()), and it hands out only
 * what it validated.  What conntrack needs beyond the policies (lengths
 * per family, states, window scales, zone direction, ICMP types, helper
 * and expectation classes) is still checked here, on every record.
 */
static int nf_ckpt_parse_stored(struct nlattr **tb, int maxtype,
				const struct nlattr *head, int len)
{
	return nla_parse_deprecated(tb, maxtype, head, len, NULL, NULL);
}

static int nf_ckpt_parse_stored_nested(struct nlattr **tb, int maxtype,
				       const struct nlattr *nla)
{
	return nla_parse_nested_deprecated(tb, maxtype, nla, NULL, NULL);
}

static int nf_ckpt_idlist_add(struct nf_ckpt_idlist *l, u64 id)
{
	u64 *ids;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;

		ids = kvmalloc_array(cap, sizeof(*ids), GFP_KERNEL);
		if (!ids)
			return -ENOMEM;
		if (l->n)
			memcpy(ids, l->ids, l->n * sizeof(*ids));
		kvfree(l->ids);
		l->ids = ids;
		l->cap = cap;
	}
	l->ids[l->n++] = id;
	return 0;
}

static void nf_ckpt_idlist_free(struct nf_ckpt_idlist *l)
{
	kvfree(l->ids);
	l->ids = NULL;
	l->n = 0;
	l->cap = 0;
}

static const struct nf_ckpt_rec_view *
nf_ckpt_layer_of(const struct nf_ckpt_rec_view *recs, unsigned int nrecs,
		 u16 layer)
{
	unsigned int i;

	for (i = 0; i < nrecs; i++)
		if (recs[i].layer == layer)
			return &recs[i];
	return NULL;
}

static int nf_ckpt_parse_tuple(const struct nlattr *attr, u8 family, u8 proto,
			       u8 dir, struct nf_conntrack_tuple *t)
{
	struct nlattr *tb[NF_CKPT_TUPLE_A_MAX + 1];
	int alen = nf_ckpt_addr_len(family);

	if (!attr || nf_ckpt_parse_stored_nested(tb, NF_CKPT_TUPLE_A_MAX,
						 attr))
		return -EINVAL;
	if (!tb[NF_CKPT_TUPLE_A_SRC] || !tb[NF_CKPT_TUPLE_A_DST] ||
	    nla_len(tb[NF_CKPT_TUPLE_A_SRC]) != alen ||
	    nla_len(tb[NF_CKPT_TUPLE_A_DST]) != alen)
		return -EINVAL;

	memset(t, 0, sizeof(*t));
	t->src.l3num = family;
	t->dst.protonum = proto;
	t->dst.dir = dir;
	nla_memcpy(&t->src.u3, tb[NF_CKPT_TUPLE_A_SRC], alen);
	nla_memcpy(&t->dst.u3, tb[NF_CKPT_TUPLE_A_DST], alen);

	if (nf_ckpt_proto_has_ports(proto)) {
		if (!tb[NF_CKPT_TUPLE_A_SPORT] || !tb[NF_CKPT_TUPLE_A_DPORT])
			return -EINVAL;
		t->src.u.all = nla_get_be16(tb[NF_CKPT_TUPLE_A_SPORT]);
		t->dst.u.all = nla_get_be16(tb[NF_CKPT_TUPLE_A_DPORT]);
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		if (!tb[NF_CKPT_TUPLE_A_ICMP_ID] ||
		    !tb[NF_CKPT_TUPLE_A_ICMP_TYPE] ||
		    !tb[NF_CKPT_TUPLE_A_ICMP_CODE])
			return -EINVAL;
		t->src.u.icmp.id = nla_get_be16(tb[NF_CKPT_TUPLE_A_ICMP_ID]);
		t->dst.u.icmp.type = nla_get_u8(tb[NF_CKPT_TUPLE_A_ICMP_TYPE]);
		t->dst.u.icmp.code = nla_get_u8(tb[NF_CKPT_TUPLE_A_ICMP_CODE]);
	}
	return 0;
}

/*
 * ctnetlink refuses ICMP tuples whose type has no inverse (only requests
 * and their replies are tracked): so does a restore.
 */
static bool nf_ckpt_tuple_ok(const struct nf_conntrack_tuple *t)
{
	struct nf_conntrack_tuple inv;

	if (t->dst.protonum != IPPROTO_ICMP && t->dst.protonum != IPPROTO_ICMPV6)
		return true;
	return nf_ct_invert_tuple(&inv, t);
}

static int nf_ckpt_parse_base(const struct nf_ckpt_rec_view *rec,
			      struct nf_ckpt_base *b)
{
	struct nlattr *tb[NF_CKPT_BASE_A_MAX + 1];
	u8 zdir = NF_CT_DEFAULT_ZONE_DIR;
	u16 zid = NF_CT_DEFAULT_ZONE_ID;

	if (!rec || nf_ckpt_parse_stored(tb, NF_CKPT_BASE_A_MAX, rec->payload,
					 rec->len))
		return -EINVAL;
	if (!tb[NF_CKPT_BASE_A_FAMILY] || !tb[NF_CKPT_BASE_A_PROTO] ||
	    !tb[NF_CKPT_BASE_A_TIMEOUT_MS])
		return -EINVAL;

	memset(b, 0, sizeof(*b));
	b->family = nla_get_u8(tb[NF_CKPT_BASE_A_FAMILY]);
	b->proto = nla_get_u8(tb[NF_CKPT_BASE_A_PROTO]);
	if (b->family != NFPROTO_IPV4 && b->family != NFPROTO_IPV6)
		return -EINVAL;
	if (nf_ckpt_parse_tuple(tb[NF_CKPT_BASE_A_TUPLE_ORIG], b->family,
				b->proto, IP_CT_DIR_ORIGINAL,
				&b->tuple[IP_CT_DIR_ORIGINAL]) ||
	    nf_ckpt_parse_tuple(tb[NF_CKPT_BASE_A_TUPLE_REPLY], b->family,
				b->proto, IP_CT_DIR_REPLY,
				&b->tuple[IP_CT_DIR_REPLY]) ||
	    !nf_ckpt_tuple_ok(&b->tuple[IP_CT_DIR_ORIGINAL]) ||
	    !nf_ckpt_tuple_ok(&b->tuple[IP_CT_DIR_REPLY]))
		return -EINVAL;

	if (tb[NF_CKPT_BASE_A_ZONE])
		zid = nla_get_u16(tb[NF_CKPT_BASE_A_ZONE]);
	if (tb[NF_CKPT_BASE_A_ZONE_DIR])
		zdir = nla_get_u8(tb[NF_CKPT_BASE_A_ZONE_DIR]);
	if (zdir & ~NF_CT_DEFAULT_ZONE_DIR)
		return -EINVAL;
	nf_ct_zone_init(&b->zone, zid, zdir, 0);

	if (tb[NF_CKPT_BASE_A_STATUS])
		b->status = nla_get_u32(tb[NF_CKPT_BASE_A_STATUS]);
	if (tb[NF_CKPT_BASE_A_MARK])
		b->mark = nla_get_u32(tb[NF_CKPT_BASE_A_MARK]);
	if (tb[NF_CKPT_BASE_A_LABELS])
		b->labels = nla_data(tb[NF_CKPT_BASE_A_LABELS]);
	b->timeout_ms = nla_get_u64(tb[NF_CKPT_BASE_A_TIMEOUT_MS]);
	b->nat[NF_NAT_MANIP_SRC] = tb[NF_CKPT_BASE_A_NAT_SRC];
	b->nat[NF_NAT_MANIP_DST] = tb[NF_CKPT_BASE_A_NAT_DST];
	if (tb[NF_CKPT_BASE_A_MASTER_ID])
		b->master_id = nla_get_u64(tb[NF_CKPT_BASE_A_MASTER_ID]);
	return 0;
}

/* The conntrack a BASE record describes, if it is in the table. */
static struct nf_conn *nf_ckpt_find(struct net *net,
				    const struct nf_ckpt_base *b)
{
	struct nf_conntrack_tuple_hash *h;

	h = nf_conntrack_find_get(net, &b->zone, &b->tuple[IP_CT_DIR_ORIGINAL]);
	return h ? nf_ct_tuplehash_to_ctrack(h) : NULL;
}

/*
 * The conntrack of an ID, through its BASE record (copied into the run's
 * second snapshot: the first holds the records being restored); a
 * reference or NULL.
 */
static struct nf_conn *nf_ckpt_find_by_id(struct nf_ckpt_run *r, u64 id)
{
	struct nf_ckpt_snap *s = &r->aux;
	struct nf_ckpt_base b;

	if (nf_ckpt_store_get(r->net, id, s) ||
	    nf_ckpt_parse_base(nf_ckpt_layer_of(s->v, s->n,
						NF_CKPT_LAYER_BASE), &b))
		return NULL;
	return nf_ckpt_find(r->net, &b);
}

/* Give an existing conntrack its ID back. */
static void nf_ckpt_rebind(struct nf_ckpt_run *r, struct nf_conn *ct, u64 id)
{
	u64 cur = nf_ckpt_ct_set_label_id(ct, id);

	if (cur && cur != id)
		nf_ckpt_store_forget(r->net, id);
}

/*
 * Is the conntrack of a BASE record in the table already?  Then it is
 * kept and given the ID back (not in a dry run).  Asked before creating
 * only when nothing is to be inserted; otherwise after the insertion
 * failed (a clash) or the build did: the common case costs no lookup.
 */
static bool nf_ckpt_existing(struct nf_ckpt_run *r, const struct nf_ckpt_base *b,
			     u64 id)
{
	struct nf_conn *ct = nf_ckpt_find(r->net, b);

	if (!ct)
		return false;
	if (!r->dry_run) {
		/* Ours: an earlier nf_ckpt_ct may have re-created it. */
		if (nf_ckpt_ct_id(r->cn, ct) == id)
			nf_ckpt_relearn_existing(r->cn, ct);
		else
			nf_ckpt_rebind(r, ct, id);
	}
	nf_ct_put(ct);
	return true;
}

/*
 * A conntrack just re-created from its records: they are current, so
 * walk.c's first walk leaves it alone (it skips what has an entry), and
 * its first packet that changes anything writes them again (an entry not
 * NF_CKPT_CONN_WRITTEN is written in full).  The entry lives as long as
 * the records would.  No entry (no memory): the walk checkpoints it.
 */
static void nf_ckpt_restored(struct nf_ckpt_run *r, struct nf_conn *ct, u64 id)
{
	u32 expires = (u32)jiffies +
		      min_t(u64, (u64)nf_ckpt_ct_timeout_left(ct) +
				 nf_ckpt_grace_jiffies(), INT_MAX);
	struct nf_ckpt_conn *c;

	if (nf_ckpt_ct_label_id(ct) != id)
		return;		/* the fallback table gives it a new ID */
	rcu_read_lock();
	c = nf_ckpt_conn_get(r->cn, id);
	if (c) {
		spin_lock_bh(&c->lock);
		if (time_before32(c->expires, expires))
			WRITE_ONCE(c->expires, expires);
		spin_unlock_bh(&c->lock);
	}
	rcu_read_unlock();
}

/*
 * The mapping of one NAT manip as ctnetlink's CTA_NAT nest, for the NAT
 * core's parse_nat_setup(): nf_ckpt_ct then needs no symbol of nf_nat,
 * which may be absent (or loaded later) on a router without NAT.
 */
#define NF_CKPT_NAT_ATTR_MAX	128

static int nf_ckpt_nat_attr(const struct nlattr *rec, u8 family,
			    struct nf_ckpt_msg *m)
{
	struct nlattr *tb[NF_CKPT_NAT_A_MAX + 1];
	int alen = nf_ckpt_addr_len(family);
	int amin = family == NFPROTO_IPV6 ? CTA_NAT_V6_MINIP : CTA_NAT_V4_MINIP;
	int amax = family == NFPROTO_IPV6 ? CTA_NAT_V6_MAXIP : CTA_NAT_V4_MAXIP;
	struct nlattr *nat, *proto;
	const void *addr;
	__be16 port;

	if (nf_ckpt_parse_stored_nested(tb, NF_CKPT_NAT_A_MAX, rec) ||
	    !tb[NF_CKPT_NAT_A_ADDR] || !tb[NF_CKPT_NAT_A_PORT] ||
	    nla_len(tb[NF_CKPT_NAT_A_ADDR]) != alen)
		return -EINVAL;
	addr = nla_data(tb[NF_CKPT_NAT_A_ADDR]);
	port = nla_get_be16(tb[NF_CKPT_NAT_A_PORT]);

	nat = nf_ckpt_nest_start(m, CTA_NAT_SRC);
	if (!nat || nf_ckpt_put(m, amin, alen, addr) ||
	    nf_ckpt_put(m, amax, alen, addr))
		return -EMSGSIZE;
	proto = nf_ckpt_nest_start(m, CTA_NAT_PROTO);
	if (!proto ||
	    nf_ckpt_put(m, CTA_PROTONAT_PORT_MIN, sizeof(port), &port) ||
	    nf_ckpt_put(m, CTA_PROTONAT_PORT_MAX, sizeof(port), &port))
		return -EMSGSIZE;
	nf_ckpt_nest_end(m, proto);
	nf_ckpt_nest_end(m, nat);
	return 0;
}

/*
 * Both manips, DST first, a null binding for the one without a record,
 * as ctnetlink does.  Then the reply tuple must be the recorded one.
 */
static enum nf_ckpt_fail nf_ckpt_setup_nat(struct nf_ckpt_run *r,
					   struct nf_conn *ct,
					   const struct nf_ckpt_base *b)
{
	static const enum nf_nat_manip_type order[] = {
		NF_NAT_MANIP_DST, NF_NAT_MANIP_SRC,
	};
	u8 buf[ARRAY_SIZE(order)][NF_CKPT_NAT_ATTR_MAX] __aligned(4);
	const struct nf_nat_hook *nat_hook;
	struct nf_ckpt_msg m;
	unsigned int i;
	int err = 0;

	if (!b->nat[NF_NAT_MANIP_SRC] && !b->nat[NF_NAT_MANIP_DST])
		return NF_CKPT_OK;
	for (i = 0; i < ARRAY_SIZE(order); i++) {
		nf_ckpt_msg_init(&m, buf[i], sizeof(buf[i]));
		if (b->nat[order[i]] &&
		    nf_ckpt_nat_attr(b->nat[order[i]], b->family, &m))
			return NF_CKPT_FAIL_INVAL;
	}

	if (!rcu_access_pointer(nf_nat_hook) && r->may_load &&
	    !r->nat_asked) {
		r->nat_asked = true;
		request_module("nf-nat");
	}

	rcu_read_lock();
	nat_hook = rcu_dereference(nf_nat_hook);
	if (!nat_hook) {
		rcu_read_unlock();
		return NF_CKPT_FAIL_NAT;
	}
	for (i = 0; i < ARRAY_SIZE(order) && !err; i++)
		err = nat_hook->parse_nat_setup(ct, order[i], b->nat[order[i]] ?
						(struct nlattr *)buf[i] :
						NULL);
	rcu_read_unlock();
	if (err)
		return err == -ENOMEM ? NF_CKPT_FAIL_NOMEM : NF_CKPT_FAIL_NAT;
	if (!nf_ct_tuple_equal(&ct->tuplehash[IP_CT_DIR_REPLY].tuple,
			       &b->tuple[IP_CT_DIR_REPLY]))
		return NF_CKPT_FAIL_NAT;
	return NF_CKPT_OK;
}

/*
 * Ask modprobe for a helper the record names and the kernel lacks, once
 * per name and at most NF_CKPT_MISSING_MAX times per run, and only for a
 * caller of the initial user namespace (r->may_load): root of a container
 * must not make the host run modprobe.  Outside RCU: it sleeps.
 */
static void nf_ckpt_helper_load(struct nf_ckpt_run *r, const char *name,
				u8 family, u8 proto)
{
	unsigned int i;
	bool found;

	if (!r->may_load || r->nasked >= NF_CKPT_MISSING_MAX)
		return;
	rcu_read_lock();
	found = __nf_conntrack_helper_find(name, family, proto);
	rcu_read_unlock();
	if (found)
		return;
	for (i = 0; i < r->nasked; i++)
		if (!strcmp(r->asked[i], name))
			return;
	strscpy(r->asked[r->nasked++], name, sizeof(r->asked[0]));
	request_module("nfct-helper-%s", name);
}

/*
 * A helper the kernel has, pinned (module and helper reference, as
 * nf_conntrack_helper_try_module_get() does, without its modprobe) for as
 * long as the conntrack being built is not in the table: unregistering a
 * helper only unhelps the conntracks it finds there.
 */
static struct nf_conntrack_helper *nf_ckpt_helper_pin(const char *name,
						      u8 family, u8 proto)
{
	struct nf_conntrack_helper *h;

	rcu_read_lock();
	h = __nf_conntrack_helper_find(name, family, proto);
	if (h && !try_module_get(h->me))
		h = NULL;
	if (h && !refcount_inc_not_zero(&h->refcnt)) {
		module_put(h->me);
		h = NULL;
	}
	rcu_read_unlock();
	return h;
}

static enum nf_ckpt_fail nf_ckpt_setup_helper(struct nf_ckpt_run *r,
					      struct nf_conn *ct,
					      const struct nf_ckpt_rec_view *rec,
					      struct nf_conntrack_helper **pin)
{
	struct nlattr *tb[NF_CKPT_HELPER_A_MAX + 1];
	struct nf_conntrack_helper *helper;
	struct nf_conn_help *help;
	const char *name;
	size_t len;

	if (!rec)
		return NF_CKPT_OK;
	if (nf_ckpt_parse_stored(tb, NF_CKPT_HELPER_A_MAX, rec->payload,
				 rec->len) ||
	    !tb[NF_CKPT_HELPER_A_NAME])
		return NF_CKPT_FAIL_INVAL;

	name = nla_data(tb[NF_CKPT_HELPER_A_NAME]);
	nf_ckpt_helper_load(r, name, nf_ct_l3num(ct), nf_ct_protonum(ct));
	helper = nf_ckpt_helper_pin(name, nf_ct_l3num(ct), nf_ct_protonum(ct));
	if (!helper)
		return NF_CKPT_FAIL_HELPER;
	*pin = helper;

	help = nf_ct_helper_ext_add(ct, GFP_KERNEL);
	if (!help)
		return NF_CKPT_FAIL_NOMEM;
	if (tb[NF_CKPT_HELPER_A_DATA]) {
		/* Only a known, checked layout goes back into the helper. */
		len = nla_len(tb[NF_CKPT_HELPER_A_DATA]);
		if (!nf_ckpt_helper_data_valid(helper,
					       nla_data(tb[NF_CKPT_HELPER_A_DATA]),
					       len))
			return NF_CKPT_FAIL_HELPER;
		memcpy(help->data, nla_data(tb[NF_CKPT_HELPER_A_DATA]), len);
	}
	/* Explicitly assigned: no automatic helper lookup for it. */
	__set_bit(IPS_HELPER_BIT, &ct->status);
	rcu_assign_pointer(help->helper, helper);
	return NF_CKPT_OK;
}

static void nf_ckpt_restore_tcp_dir(struct ip_ct_tcp_state *s,
				    const struct nlattr *attr)
{
	struct nlattr *tb[NF_CKPT_TCPW_A_MAX + 1];

	if (!attr || nf_ckpt_parse_stored_nested(tb, NF_CKPT_TCPW_A_MAX, attr))
		return;
	if (tb[NF_CKPT_TCPW_A_END])
		s->td_end = nla_get_u32(tb[NF_CKPT_TCPW_A_END]);
	if (tb[NF_CKPT_TCPW_A_MAXEND])
		s->td_maxend = nla_get_u32(tb[NF_CKPT_TCPW_A_MAXEND]);
	if (tb[NF_CKPT_TCPW_A_MAXACK])
		s->td_maxack = nla_get_u32(tb[NF_CKPT_TCPW_A_MAXACK]);
	if (tb[NF_CKPT_TCPW_A_WSCALE])
		s->td_scale = nla_get_u8(tb[NF_CKPT_TCPW_A_WSCALE]);
	if (tb[NF_CKPT_TCPW_A_FLAGS])
		s->flags = nla_get_u8(tb[NF_CKPT_TCPW_A_FLAGS]);
	/* Re-learnt from the next segment of this direction. */
	s->td_maxwin = 0;
}

static int nf_ckpt_restore_tcp(struct nf_conn *ct, const struct nlattr *attr)
{
	struct nlattr *tb[NF_CKPT_TCP_A_MAX + 1];
	struct ip_ct_tcp *t = &ct->proto.tcp;

	if (nf_ckpt_parse_stored_nested(tb, NF_CKPT_TCP_A_MAX, attr) ||
	    !tb[NF_CKPT_TCP_A_STATE])
		return -EINVAL;
	t->state = nla_get_u8(tb[NF_CKPT_TCP_A_STATE]);
	nf_ckpt_restore_tcp_dir(&t->seen[IP_CT_DIR_ORIGINAL],
				tb[NF_CKPT_TCP_A_ORIG]);
	nf_ckpt_restore_tcp_dir(&t->seen[IP_CT_DIR_REPLY],
				tb[NF_CKPT_TCP_A_REPLY]);
	if (tb[NF_CKPT_TCP_A_LAST_DIR])
		t->last_dir = nla_get_u8(tb[NF_CKPT_TCP_A_LAST_DIR]);
	if (tb[NF_CKPT_TCP_A_RETRANS])
		t->retrans = nla_get_u8(tb[NF_CKPT_TCP_A_RETRANS]);
	if (tb[NF_CKPT_TCP_A_LAST_INDEX])
		t->last_index = nla_get_u8(tb[NF_CKPT_TCP_A_LAST_INDEX]);
	if (tb[NF_CKPT_TCP_A_LAST_SEQ])
		t->last_seq = nla_get_u32(tb[NF_CKPT_TCP_A_LAST_SEQ]);
	if (tb[NF_CKPT_TCP_A_LAST_ACK])
		t->last_ack = nla_get_u32(tb[NF_CKPT_TCP_A_LAST_ACK]);
	if (tb[NF_CKPT_TCP_A_LAST_END])
		t->last_end = nla_get_u32(tb[NF_CKPT_TCP_A_LAST_END]);
	if (tb[NF_CKPT_TCP_A_LAST_WIN])
		t->last_win = nla_get_u16(tb[NF_CKPT_TCP_A_LAST_WIN]);
	if (tb[NF_CKPT_TCP_A_LAST_WSCALE])
		t->last_wscale = nla_get_u8(tb[NF_CKPT_TCP_A_LAST_WSCALE]);
	if (tb[NF_CKPT_TCP_A_LAST_FLAGS])
		t->last_flags = nla_get_u8(tb[NF_CKPT_TCP_A_LAST_FLAGS]);
	return 0;
}

static int nf_ckpt_restore_sctp(struct nf_conn *ct, const struct nlattr *attr)
{
	struct nlattr *tb[NF_CKPT_SCTP_A_MAX + 1];
	struct ip_ct_sctp *s = &ct->proto.sctp;

	if (nf_ckpt_parse_stored_nested(tb, NF_CKPT_SCTP_A_MAX, attr) ||
	    !tb[NF_CKPT_SCTP_A_STATE])
		return -EINVAL;
	s->state = nla_get_u8(tb[NF_CKPT_SCTP_A_STATE]);
	if (tb[NF_CKPT_SCTP_A_VTAG_ORIG])
		s->vtag[IP_CT_DIR_ORIGINAL] =
			nla_get_be32(tb[NF_CKPT_SCTP_A_VTAG_ORIG]);
	if (tb[NF_CKPT_SCTP_A_VTAG_REPLY])
		s->vtag[IP_CT_DIR_REPLY] =
			nla_get_be32(tb[NF_CKPT_SCTP_A_VTAG_REPLY]);
	if (tb[NF_CKPT_SCTP_A_INIT_ORIG])
		s->init[IP_CT_DIR_ORIGINAL] =
			nla_get_u8(tb[NF_CKPT_SCTP_A_INIT_ORIG]);
	if (tb[NF_CKPT_SCTP_A_INIT_REPLY])
		s->init[IP_CT_DIR_REPLY] =
			nla_get_u8(tb[NF_CKPT_SCTP_A_INIT_REPLY]);
	if (tb[NF_CKPT_SCTP_A_LAST_DIR])
		s->last_dir = nla_get_u8(tb[NF_CKPT_SCTP_A_LAST_DIR]);
	if (tb[NF_CKPT_SCTP_A_FLAGS])
		s->flags = nla_get_u8(tb[NF_CKPT_SCTP_A_FLAGS]);
	return 0;
}

/*
 * What conntrack itself would never hold, refused as ctnetlink refuses it
 * (its policies cap the TCP and SCTP states, the window scales) or as
 * conntrack's own code assumes it: the state names and the TCP and SCTP
 * transition tables are indexed with state, dir and index.
 */
#define NF_CKPT_TCP_FLAGS	(IP_CT_TCP_FLAG_WINDOW_SCALE | \
				 IP_CT_TCP_FLAG_SACK_PERM | \
				 IP_CT_TCP_FLAG_CLOSE_INIT | \
				 IP_CT_TCP_FLAG_BE_LIBERAL | \
				 IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED | \
				 IP_CT_TCP_FLAG_MAXACK_SET | \
				 IP_CT_EXP_CHALLENGE_ACK)

/* SCTP_FLAG_HEARTBEAT_VTAG_FAILED, private to nf_conntrack_proto_sctp.c */
#define NF_CKPT_SCTP_FLAGS	1

static bool nf_ckpt_tcp_dir_ok(const struct ip_ct_tcp_state *s)
{
	return s->td_scale <= TCP_MAX_WSCALE && !(s->flags & ~NF_CKPT_TCP_FLAGS);
}

static bool nf_ckpt_l4_ok(const struct nf_conn *ct)
{
	const struct ip_ct_sctp *s = &ct->proto.sctp;
	const struct ip_ct_tcp *t = &ct->proto.tcp;

	switch (nf_ct_protonum(ct)) {
	case IPPROTO_TCP:
		return t->state <= TCP_CONNTRACK_SYN_SENT2 &&
		       t->last_dir <= IP_CT_DIR_REPLY &&
		       t->last_index <= NF_CKPT_TCP_INDEX_MAX &&
		       t->last_wscale <= TCP_MAX_WSCALE &&
		       !(t->last_flags & ~NF_CKPT_TCP_FLAGS) &&
		       nf_ckpt_tcp_dir_ok(&t->seen[IP_CT_DIR_ORIGINAL]) &&
		       nf_ckpt_tcp_dir_ok(&t->seen[IP_CT_DIR_REPLY]);
	case IPPROTO_SCTP:
		return s->state <= SCTP_CONNTRACK_HEARTBEAT_SENT &&
		       s->last_dir <= IP_CT_DIR_REPLY &&
		       !(s->flags & ~NF_CKPT_SCTP_FLAGS) &&
		       s->init[IP_CT_DIR_ORIGINAL] <= 1 &&
		       s->init[IP_CT_DIR_REPLY] <= 1;
	}
	return true;
}

/* L4 state; UDP's stream flag is the ASSURED bit of the BASE status. */
static int nf_ckpt_restore_l4(struct nf_conn *ct,
			      const struct nf_ckpt_rec_view *rec)
{
	struct nlattr *tb[NF_CKPT_L4_A_MAX + 1];

	if (!rec)
		return nf_ct_protonum(ct) == IPPROTO_TCP ? -EINVAL : 0;
	if (nf_ckpt_parse_stored(tb, NF_CKPT_L4_A_MAX, rec->payload, rec->len))
		return -EINVAL;
	switch (nf_ct_protonum(ct)) {
	case IPPROTO_TCP:
		if (!tb[NF_CKPT_L4_A_TCP])
			return -EINVAL;
		return nf_ckpt_restore_tcp(ct, tb[NF_CKPT_L4_A_TCP]);
	case IPPROTO_SCTP:
		if (!tb[NF_CKPT_L4_A_SCTP])
			return -EINVAL;
		return nf_ckpt_restore_sctp(ct, tb[NF_CKPT_L4_A_SCTP]);
	}
	return 0;
}

static void nf_ckpt_restore_seqadj_dir(struct nf_ct_seqadj *s,
				       const struct nlattr *attr)
{
	struct nlattr *tb[NF_CKPT_SEQADJ_DIR_A_MAX + 1];

	if (!attr || nf_ckpt_parse_stored_nested(tb, NF_CKPT_SEQADJ_DIR_A_MAX,
						 attr))
		return;
	if (tb[NF_CKPT_SEQADJ_DIR_A_POS])
		s->correction_pos = nla_get_u32(tb[NF_CKPT_SEQADJ_DIR_A_POS]);
	if (tb[NF_CKPT_SEQADJ_DIR_A_BEFORE])
		s->offset_before = nla_get_u32(tb[NF_CKPT_SEQADJ_DIR_A_BEFORE]);
	if (tb[NF_CKPT_SEQADJ_DIR_A_AFTER])
		s->offset_after = nla_get_u32(tb[NF_CKPT_SEQADJ_DIR_A_AFTER]);
}

static int nf_ckpt_restore_seqadj(struct nf_conn *ct,
				  const struct nf_ckpt_rec_view *rec)
{
	struct nlattr *tb[NF_CKPT_SEQADJ_A_MAX + 1];
	struct nf_conn_seqadj *seqadj = nfct_seqadj(ct);

	if (!rec)
		return 0;
	if (!seqadj)
		return -ENOMEM;
	if (nf_ckpt_parse_stored(tb, NF_CKPT_SEQADJ_A_MAX, rec->payload,
				 rec->len))
		return -EINVAL;
	nf_ckpt_restore_seqadj_dir(&seqadj->seq[IP_CT_DIR_ORIGINAL],
				   tb[NF_CKPT_SEQADJ_A_ORIG]);
	nf_ckpt_restore_seqadj_dir(&seqadj->seq[IP_CT_DIR_REPLY],
				   tb[NF_CKPT_SEQADJ_A_REPLY]);
	__set_bit(IPS_SEQ_ADJUST_BIT, &ct->status);
	return 0;
}

static void nf_ckpt_restore_labels(struct nf_conn *ct,
				   const struct nf_ckpt_base *b, u64 id)
{
	struct nf_conn_labels *labels = nf_ct_labels_ext_add(ct);

	if (!labels)
		return;		/* the fallback table gives it a new ID */
	if (b->labels)
		memcpy(labels->bits, b->labels, NF_CKPT_LABEL_ID_BIT / 8);
	nf_ckpt_ct_set_label_id(ct, id);
}

static enum nf_ckpt_fail nf_ckpt_errno_fail(int err)
{
	switch (err) {
	case -ENOMEM:
		return NF_CKPT_FAIL_NOMEM;
	case -EINVAL:
		return NF_CKPT_FAIL_INVAL;
	}
	return NF_CKPT_FAIL_OTHER;
}

/* Everything but the insertion, on a conntrack nobody else sees yet. */
static enum nf_ckpt_fail
nf_ckpt_build(struct nf_ckpt_run *r, struct nf_conn *ct, u64 id,
	      const struct nf_ckpt_base *b, const struct nf_ckpt_rec_view *recs,
	      unsigned int nrecs, u64 timeout_ms,
	      struct nf_conntrack_helper **pin)
{
	enum nf_ckpt_fail ret;
	int err;

	/* The helper before NAT: NAT helpers look at it. */
	ret = nf_ckpt_setup_helper(r, ct, nf_ckpt_layer_of(recs, nrecs,
						NF_CKPT_LAYER_HELPER), pin);
	if (ret)
		return ret;
	ret = nf_ckpt_setup_nat(r, ct, b);
	if (ret)
		return ret;

	/* Extensions are only added before IPS_CONFIRMED. */
	nf_ct_acct_ext_add(ct, GFP_KERNEL);
	nf_ct_tstamp_ext_add(ct, GFP_KERNEL);
	nf_ct_ecache_ext_add(ct, 0, 0, GFP_KERNEL);
	nf_ckpt_restore_labels(ct, b, id);
	nfct_seqadj_ext_add(ct);
	nfct_synproxy_ext_add(ct);

	__set_bit(IPS_CONFIRMED_BIT, &ct->status);
	__nf_ct_set_timeout(ct, nf_ckpt_ms_to_jiffies(timeout_ms));
	ct->status |= b->status & NF_CKPT_STATUS_RESTORE;
	ct->mark = b->mark;

	memset(&ct->proto, 0, sizeof(ct->proto));
	err = nf_ckpt_restore_l4(ct, nf_ckpt_layer_of(recs, nrecs,
						     NF_CKPT_LAYER_L4));
	if (!err && !nf_ckpt_l4_ok(ct))
		err = -EINVAL;
	if (!err)
		err = nf_ckpt_restore_seqadj(ct, nf_ckpt_layer_of(recs, nrecs,
							NF_CKPT_LAYER_SEQADJ));
	return err ? nf_ckpt_errno_fail(err) : NF_CKPT_OK;
}

static bool nf_ckpt_table_full(struct net *net)
{
	unsigned int max = READ_ONCE(nf_conntrack_max);

	return max && nf_conntrack_count(net) >= max;
}

static enum nf_ckpt_fail nf_ckpt_create(struct nf_ckpt_run *r, u64 id,
					const struct nf_ckpt_base *b,
					const struct nf_ckpt_rec_view *recs,
					unsigned int nrecs, u64 timeout_ms)
{
	struct nf_conn *ct, *master = NULL;
	struct nf_conntrack_helper *pin = NULL;
	struct nf_conntrack_tuple reply;
	struct nf_conn_tstamp *tstamp;
	enum nf_ckpt_fail ret;
	int err;

	if (b->master_id) {
		master = nf_ckpt_find_by_id(r, b->master_id);
		/* A dry run creates no master: its records must do. */
		if (!master && !(r->dry_run &&
				 nf_ckpt_store_has(r->net, b->master_id)))
			return r->last_pass ? NF_CKPT_FAIL_OTHER : NF_CKPT_DEFER;
	}
	if (r->dry_run) {
		if (master)
			nf_ct_put(master);
		return NF_CKPT_OK;
	}

	/*
	 * With NAT, the reply tuple is the NAT core's to derive from the
	 * recorded mapping: only then does it mark the manips done (status
	 * IPS_SRC_NAT / IPS_DST_NAT, which make packets be translated) and
	 * hash the source mapping.  nf_ckpt_setup_nat() checks the result.
	 */
	reply = b->tuple[IP_CT_DIR_REPLY];
	if ((b->nat[NF_NAT_MANIP_SRC] || b->nat[NF_NAT_MANIP_DST]) &&
	    !nf_ct_invert_tuple(&reply, &b->tuple[IP_CT_DIR_ORIGINAL])) {
		if (master)
			nf_ct_put(master);
		return NF_CKPT_FAIL_INVAL;
	}
	ct = nf_conntrack_alloc(r->net, &b->zone, &b->tuple[IP_CT_DIR_ORIGINAL],
				&reply, GFP_KERNEL);
	if (IS_ERR(ct)) {
		if (master)
			nf_ct_put(master);
		return nf_ckpt_table_full(r->net) ? NF_CKPT_FAIL_NOSPC :
						    NF_CKPT_FAIL_NOMEM;
	}

	ret = nf_ckpt_build(r, ct, id, b, recs, nrecs, timeout_ms, &pin);
	if (ret)
		goto err_free;

	if (master) {
		/* The reference is the child's, dropped when it is freed. */
		__set_bit(IPS_EXPECTED_BIT, &ct->status);
		ct->master = master;
	}
	tstamp = nf_conn_tstamp_find(ct);
	if (tstamp)
		tstamp->start = ktime_get_real_ns();

	/* Insert first: a clash is what tells that it is there already. */
	err = nf_conntrack_hash_check_insert(ct);
	if (err) {
		ret = err == -ENOSPC ? NF_CKPT_FAIL_NOSPC : NF_CKPT_FAIL_OTHER;
		/* Else a clash on the reply side only. */
		if (err == -EEXIST)
			ret = NF_CKPT_FAIL_NAT;
		goto err_free;
	}

	nf_conntrack_eventmask_report((1 << IPCT_NEW) | (1 << IPCT_HELPER) |
				      (1 << IPCT_LABEL) | (1 << IPCT_MARK) |
				      (1 << IPCT_SEQADJ) |
				      (ct->master ? 1 << IPCT_RELATED : 0) |
				      (test_bit(IPS_ASSURED_BIT, &ct->status) ?
				       1 << IPCT_ASSURED : 0),
				      ct, 0, 0);
	nf_ckpt_restored(r, ct, id);
	nf_ckpt_relearn_restored(r->cn, ct);
	nf_ct_put(ct);
	/* In the table now: helper unregistration finds it there. */
	if (pin)
		nf_conntrack_helper_put(pin);
	return NF_CKPT_OK;

err_free:
	if (master) {
		ct->master = NULL;
		nf_ct_put(master);
	}
	nf_conntrack_free(ct);
	if (pin)
		nf_conntrack_helper_put(pin);
	return ret;
}

/* The reply's counter of each outcome; 0: not counted. */
static const u8 nf_ckpt_outcome_res[] = {
	[NF_CKPT_OK]		= NF_CKPT_RES_A_RESTORED,
	[NF_CKPT_EXISTING]	= NF_CKPT_RES_A_EXISTING,
	[NF_CKPT_FAIL_NOMEM]	= NF_CKPT_RES_A_FAIL_NOMEM,
	[NF_CKPT_FAIL_NOSPC]	= NF_CKPT_RES_A_FAIL_NOSPC,
	[NF_CKPT_FAIL_HELPER]	= NF_CKPT_RES_A_FAIL_HELPER,
	[NF_CKPT_FAIL_NAT]	= NF_CKPT_RES_A_FAIL_NAT,
	[NF_CKPT_FAIL_INVAL]	= NF_CKPT_RES_A_FAIL_INVAL,
	[NF_CKPT_FAIL_OTHER]	= NF_CKPT_RES_A_FAIL_OTHER,
};

static void nf_ckpt_count(struct nf_ckpt_restore_stats *st,
			  enum nf_ckpt_fail ret)
{
	u8 a = nf_ckpt_outcome_res[ret];

	if (a)
		st->v[a]++;
}

static enum nf_ckpt_fail nf_ckpt_restore_one(struct nf_ckpt_run *r, u64 id,
					     const struct nf_ckpt_rec_view *recs,
					     unsigned int nrecs)
{
	const struct nf_ckpt_rec_view *base;
	enum nf_ckpt_fail ret;
	struct nf_ckpt_base b;
	u64 age_ms;

	base = nf_ckpt_layer_of(recs, nrecs, NF_CKPT_LAYER_BASE);
	if (nf_ckpt_parse_base(base, &b))
		return NF_CKPT_FAIL_INVAL;

	/*
	 * Looked up first only when nothing would be inserted: a dry run,
	 * a record timed out, a child (deferred while its master is not
	 * back, which an existing child must not be).
	 */
	age_ms = base->age_ms;
	if ((r->dry_run || b.timeout_ms <= age_ms || b.master_id) &&
	    nf_ckpt_existing(r, &b, id))
		return NF_CKPT_EXISTING;
	/* The timeout ran on since the checkpoint. */
	if (b.timeout_ms <= age_ms)
		return NF_CKPT_SKIP;
	ret = nf_ckpt_create(r, id, &b, recs, nrecs, b.timeout_ms - age_ms);
	/* Whatever failed, one that is there already is counted as such. */
	if (ret >= NF_CKPT_FAIL_NOMEM && nf_ckpt_existing(r, &b, id))
		return NF_CKPT_EXISTING;
	return ret;
}

static void nf_ckpt_restore_id(struct nf_ckpt_run *r, u64 id)
{
	const struct nf_ckpt_rec_view *recs = r->cur.v;
	unsigned int nrecs = r->cur.n;
	enum nf_ckpt_fail ret;

	ret = nf_ckpt_restore_one(r, id, recs, nrecs);
	if (ret == NF_CKPT_DEFER && nf_ckpt_idlist_add(&r->deferred, id))
		ret = NF_CKPT_FAIL_NOMEM;
	nf_ckpt_count(r->st, ret);

	if ((ret == NF_CKPT_OK || ret == NF_CKPT_EXISTING) && !r->dry_run &&
	    nf_ckpt_layer_of(recs, nrecs, NF_CKPT_LAYER_EXPECT) &&
	    nf_ckpt_idlist_add(&r->expects, id))
		r->st->v[NF_CKPT_RES_A_FAIL_EXPECT]++;
}

/* Expectations ------------------------------------------------------- */

static int nf_ckpt_exp_tuple(const struct nlattr *attr, u8 family, u8 proto,
			     struct nf_conntrack_tuple *t)
{
	return nf_ckpt_parse_tuple(attr, family, proto, IP_CT_DIR_ORIGINAL, t);
}

/*
 * The helper an expectation is created by is its master's: exp_seq_show()
 * and the helpers' own callbacks index that helper's expect_policy[] with
 * the class.  A record naming another is refused, as ctnetlink refuses
 * an expectation whose master has no helper.
 */
static struct nf_conntrack_helper *
nf_ckpt_exp_creator(struct nf_conn *master, struct nlattr **tb, u32 class)
	__must_hold(RCU)
{
	struct nf_conntrack_helper *helper;
	struct nf_conn_help *help;

	help = nfct_help(master);
	helper = help ? rcu_dereference(help->helper) : NULL;
	if (!helper || class > helper->expect_class_max)
		return NULL;
	if (tb[NF_CKPT_EXP_A_HELPER] &&
	    strcmp(nla_data(tb[NF_CKPT_EXP_A_HELPER]), helper->name))
		return NULL;
	return helper;
}

static void nf_ckpt_exp_fill(struct nf_conntrack_expect *exp,
			     struct nlattr **tb, u8 family)
{
	const struct nlattr *addr = tb[NF_CKPT_EXP_A_SAVED_ADDR];
	size_t alen = family == NFPROTO_IPV4 ? sizeof(exp->saved_addr.ip) :
					       sizeof(exp->saved_addr.ip6);

	exp->flags = tb[NF_CKPT_EXP_A_FLAGS] ?
		     nla_get_u32(tb[NF_CKPT_EXP_A_FLAGS]) & NF_CT_EXPECT_MASK : 0;
	/* The NAT helpers read the saved address as one of the family's. */
	if (!addr || nla_len(addr) != alen)
		return;
	nla_memcpy(&exp->saved_addr, addr, sizeof(exp->saved_addr));
	if (tb[NF_CKPT_EXP_A_SAVED_PORT])
		exp->saved_proto.all = nla_get_be16(tb[NF_CKPT_EXP_A_SAVED_PORT]);
	if (tb[NF_CKPT_EXP_A_DIR])
		exp->dir = nla_get_u8(tb[NF_CKPT_EXP_A_DIR]);
}

static int nf_ckpt_create_exp(struct nf_ckpt_run *r, struct nf_conn *master,
			      const struct nlattr *item)
{
	struct nlattr *tb[NF_CKPT_EXP_A_MAX + 1];
	const struct nf_ct_helper_expectfn *fn = NULL;
	struct nf_conntrack_helper *helper, *assign = NULL;
	struct nf_conntrack_tuple tuple, mask;
	u8 family = nf_ct_l3num(master);
	struct nf_conntrack_expect *exp;
	u32 class = 0;
	u8 proto;
	int err;

	if (nf_ckpt_parse_stored_nested(tb, NF_CKPT_EXP_A_MAX, item))
		return -EINVAL;
	proto = tb[NF_CKPT_EXP_A_PROTO] ? nla_get_u8(tb[NF_CKPT_EXP_A_PROTO]) :
					  nf_ct_protonum(master);
	if (nf_ckpt_exp_tuple(tb[NF_CKPT_EXP_A_TUPLE], family, proto, &tuple) ||
	    nf_ckpt_exp_tuple(tb[NF_CKPT_EXP_A_MASK], family, proto, &mask))
		return -EINVAL;
	if (tb[NF_CKPT_EXP_A_CLASS])
		class = nla_get_u32(tb[NF_CKPT_EXP_A_CLASS]);
	if (tb[NF_CKPT_EXP_A_DIR] &&
	    nla_get_u8(tb[NF_CKPT_EXP_A_DIR]) > IP_CT_DIR_REPLY)
		return -EINVAL;
	/* The child's helper (H.323, SIP REGISTER), loaded while we may sleep. */
	if (tb[NF_CKPT_EXP_A_ASSIGN_HELPER])
		nf_ckpt_helper_load(r, nla_data(tb[NF_CKPT_EXP_A_ASSIGN_HELPER]),
				    family, proto);

	/*
	 * Held until the expectation is in the table, as ctnetlink does:
	 * a helper unregistering meanwhile would miss it and leave
	 * exp->helper dangling.
	 */
	rcu_read_lock();
	err = -EOPNOTSUPP;
	helper = nf_ckpt_exp_creator(master, tb, class);
	if (!helper)
		goto out;
	if (tb[NF_CKPT_EXP_A_ASSIGN_HELPER]) {
		assign = __nf_conntrack_helper_find(nla_data(tb[NF_CKPT_EXP_A_ASSIGN_HELPER]),
						    family, proto);
		if (!assign)
			goto out;
	}
	if (tb[NF_CKPT_EXP_A_FN]) {
		fn = nf_ct_helper_expectfn_find_by_name(nla_data(tb[NF_CKPT_EXP_A_FN]));
		if (!fn)
			goto out;
	}

	err = -ENOMEM;
	exp = nf_ct_expect_alloc(master);
	if (!exp)
		goto out;
	nf_ckpt_exp_fill(exp, tb, family);
	exp->class = class;
	exp->master = master;
	write_pnet(&exp->net, nf_ct_net(master));
#ifdef CONFIG_NF_CONNTRACK_ZONES
	exp->zone = master->zone;
#endif
	exp->expectfn = fn ? fn->expectfn : NULL;
	rcu_assign_pointer(exp->helper, helper);
	rcu_assign_pointer(exp->assign_helper, assign);
	exp->tuple = tuple;
	exp->mask.src.u3 = mask.src.u3;
	exp->mask.src.u.all = mask.src.u.all;

	err = nf_ct_expect_related_report(exp, 0, 0, 0);
	if (!err && tb[NF_CKPT_EXP_A_TIMEOUT_MS]) {
		/* Left as it was at the checkpoint, not the helper's full. */
		spin_lock_bh(&nf_conntrack_expect_lock);
		WRITE_ONCE(exp->timeout, nfct_time_stamp +
			   nf_ckpt_ms_to_jiffies(nla_get_u64(tb[NF_CKPT_EXP_A_TIMEOUT_MS])));
		spin_unlock_bh(&nf_conntrack_expect_lock);
	}
	nf_ct_expect_put(exp);
out:
	rcu_read_unlock();
	return err;
}

static void nf_ckpt_restore_expects(struct nf_ckpt_run *r)
{
	const struct nf_ckpt_rec_view *recs = r->cur.v, *rec;
	unsigned int nrecs = r->cur.n;
	struct net *net = r->net;
	const struct nlattr *item;
	struct nf_ckpt_base b;
	struct nf_conn *master;
	int rem, err;

	rec = nf_ckpt_layer_of(recs, nrecs, NF_CKPT_LAYER_EXPECT);
	if (!rec)
		return;
	if (nf_ckpt_parse_base(nf_ckpt_layer_of(recs, nrecs,
						NF_CKPT_LAYER_BASE), &b)) {
		r->st->v[NF_CKPT_RES_A_FAIL_EXPECT]++;
		return;
	}
	master = nf_ckpt_find(net, &b);
	if (!master) {
		r->st->v[NF_CKPT_RES_A_FAIL_EXPECT]++;
		return;
	}
	nla_for_each_attr(item, rec->payload, rec->len, rem) {
		if (nla_type(item) != NF_CKPT_EXPECT_A_ITEM)
			continue;
		err = nf_ckpt_create_exp(r, master, item);
		if (!err)
			r->st->v[NF_CKPT_RES_A_EXPECTS]++;
		else if (err != -EEXIST && err != -EBUSY)
			r->st->v[NF_CKPT_RES_A_FAIL_EXPECT]++;
	}
	nf_ct_put(master);
}

/* The run ----------------------------------------------------------- */

static int nf_ckpt_restore_resched(void)
{
	cond_resched();
	return fatal_signal_pending(current) ? -EINTR : 0;
}

int nf_ckpt_restore_net(struct net *net, bool dry_run, bool may_load,
			struct nf_ckpt_restore_stats *st)
{
	struct nf_ckpt_run r = {
		.net		= net,
		.cn		= nf_ckpt_ct_pernet(net),
		.st		= st,
		.dry_run	= dry_run,
		.may_load	= may_load,
	};
	struct nf_ckpt_iter it;
	size_t i;
	int err;
	u64 id;

	/* The store's shape checks use copies of these. */
	BUILD_BUG_ON(NF_CKPT_HELPER_NAME_LEN != NF_CT_HELPER_NAME_LEN);
	BUILD_BUG_ON(NF_CKPT_EXPECT_CLASSES != NF_CT_MAX_EXPECT_CLASSES);
	BUILD_BUG_ON(NF_CKPT_WSCALE_MAX != TCP_MAX_WSCALE);
	BUILD_BUG_ON(NF_CKPT_HELPER_DATA_MAX !=
		     sizeof_field(struct nf_conn_help, data));

	if (nf_ckpt_snap_alloc(&r.cur, GFP_KERNEL))
		return -ENOMEM;
	err = nf_ckpt_snap_alloc(&r.aux, GFP_KERNEL);
	if (err)
		goto out_cur;
	/*
	 * Per netns: a container's restore, however long, keeps no other
	 * netns waiting.
	 */
	err = -EINTR;
	if (mutex_lock_killable(&r.cn->restore_lock))
		goto out_aux;
	err = nf_ckpt_store_iter_start(net, &it);
	while (!err && (id = nf_ckpt_store_iter_next(&it, &r.cur))) {
		nf_ckpt_restore_id(&r, id);
		err = nf_ckpt_restore_resched();
	}
	nf_ckpt_store_iter_stop(&it);

	/* Children whose master came later in ID order. */
	r.last_pass = true;
	for (i = 0; !err && i < r.deferred.n; i++) {
		/* Absent: forgotten meanwhile. */
		if (!nf_ckpt_store_get(net, r.deferred.ids[i], &r.cur))
			nf_ckpt_restore_id(&r, r.deferred.ids[i]);
		err = nf_ckpt_restore_resched();
	}
	for (i = 0; !err && i < r.expects.n; i++) {
		if (!nf_ckpt_store_get(net, r.expects.ids[i], &r.cur))
			nf_ckpt_restore_expects(&r);
		err = nf_ckpt_restore_resched();
	}
	mutex_unlock(&r.cn->restore_lock);

	nf_ckpt_idlist_free(&r.deferred);
	nf_ckpt_idlist_free(&r.expects);
out_aux:
	nf_ckpt_snap_free(&r.aux);
out_cur:
	nf_ckpt_snap_free(&r.cur);
	return err;
}
