// SPDX-License-Identifier: GPL-2.0
/*
 * The "nf_ckpt" generic-netlink family: status, get/dump, forget, flush,
 * load, restore, and the "events" multicast group.  Every operation needs
 * CAP_NET_ADMIN over the caller's netns: connection state is sensitive,
 * so this holds for the reading ones too.  All operations validate
 * strictly; every -EINVAL comes with an extack message.
 */

#include <linux/module.h>
#include <linux/sort.h>
#include <net/genetlink.h>
#include <net/sock.h>

#include "store.h"

static struct genl_family nf_ckpt_genl_family;

/* Cleared, then an RCU grace period, before the family goes away. */
static bool nf_ckpt_events_on __read_mostly;

static const struct genl_multicast_group nf_ckpt_mcgrps[] = {
	[NF_CKPT_GRP_EVENTS] = {
		.name	= NF_CKPT_MCGRP_EVENTS,
		.flags	= GENL_MCAST_CAP_NET_ADMIN,
	},
};

/*
 * The policy refuses ID 0, for the sake of dumps on 6.1, whose .start
 * has no extack.  A range, not a validation function: an extack that
 * points at a policy with a function makes 6.12's netlink_ack() WARN
 * while it dumps the policy back.
 */
#define NF_CKPT_POLICY_ID	NLA_POLICY_MIN(NLA_U64, 1)

static const struct nla_policy nf_ckpt_rec_policy[NF_CKPT_REC_A_MAX + 1] = {
	[NF_CKPT_REC_A_PAD]		= { .type = NLA_BINARY },
	[NF_CKPT_REC_A_ID]		= NF_CKPT_POLICY_ID,
	[NF_CKPT_REC_A_LAYER]		= { .type = NLA_U16 },
	[NF_CKPT_REC_A_AGE_MS]		= { .type = NLA_U64 },
	[NF_CKPT_REC_A_EXPIRES_MS]	= { .type = NLA_U64 },
	[NF_CKPT_REC_A_PAYLOAD]		= { .type = NLA_NESTED },
};

static const struct nla_policy nf_ckpt_get_policy[NF_CKPT_A_MAX + 1] = {
	[NF_CKPT_A_ID]		= NF_CKPT_POLICY_ID,
};

static const struct nla_policy nf_ckpt_forget_policy[NF_CKPT_A_MAX + 1] = {
	[NF_CKPT_A_ID]		= NF_CKPT_POLICY_ID,
	[NF_CKPT_A_LAYER]	= { .type = NLA_U16 },
};

static const struct nla_policy nf_ckpt_load_policy[NF_CKPT_A_MAX + 1] = {
	[NF_CKPT_A_FLAGS]	= { .type = NLA_U32 },
	[NF_CKPT_A_RECORD]	= NLA_POLICY_NESTED(nf_ckpt_rec_policy),
};

static const struct nla_policy nf_ckpt_restore_policy[NF_CKPT_A_MAX + 1] = {
	[NF_CKPT_A_FLAGS]	= { .type = NLA_U32 },
};

/* Request helpers ---------------------------------------------------- */

static int nf_ckpt_check_id(const struct nlattr *attr, u64 *id,
			    struct netlink_ext_ack *extack)
{
	*id = nla_get_u64(attr);
	if (!*id) {
		NL_SET_ERR_MSG_ATTR(extack, attr, "connection ID 0 is invalid");
		return -EINVAL;
	}
	return 0;
}

static int nf_ckpt_req_id(struct genl_info *info, u64 *id)
{
	if (GENL_REQ_ATTR_CHECK(info, NF_CKPT_A_ID)) {
		GENL_SET_ERR_MSG(info, "missing NF_CKPT_A_ID");
		return -EINVAL;
	}
	return nf_ckpt_check_id(info->attrs[NF_CKPT_A_ID], id, info->extack);
}

static int nf_ckpt_check_layer(const struct nlattr *attr, u16 *layer,
			       struct netlink_ext_ack *extack)
{
	*layer = nla_get_u16(attr);
	if (*layer < 1 || *layer > NF_CKPT_LAYER_MAX) {
		NL_SET_ERR_MSG_ATTR(extack, attr, "unknown layer");
		return -EINVAL;
	}
	return 0;
}

static int nf_ckpt_req_flags(struct genl_info *info, u32 mask, u32 *flags)
{
	const struct nlattr *attr = info->attrs[NF_CKPT_A_FLAGS];

	*flags = attr ? nla_get_u32(attr) : 0;
	if (*flags & ~mask) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr, "unknown flags");
		return -EINVAL;
	}
	return 0;
}

/* Messages ----------------------------------------------------------- */

/* Room for one NF_CKPT_A_RECORD with a payload of len bytes. */
static size_t nf_ckpt_rec_size(u32 len)
{
	return nla_total_size(0) +				/* RECORD */
	       nla_total_size_64bit(sizeof(u64)) * 3 +	/* ID, AGE, EXPIRES */
	       nla_total_size(sizeof(u16)) +			/* LAYER */
	       nla_total_size(len);				/* PAYLOAD */
}

static int nf_ckpt_fill_rec(struct sk_buff *skb,
			    const struct nf_ckpt_rec_view *rv)
{
	const struct nf_ckpt_rec_view v = *rv;
	u64 id = v.id;
	struct nlattr *nest, *payload;

	nest = nla_nest_start(skb, NF_CKPT_A_RECORD);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u64_64bit(skb, NF_CKPT_REC_A_ID, id, NF_CKPT_REC_A_PAD) ||
	    nla_put_u16(skb, NF_CKPT_REC_A_LAYER, v.layer) ||
	    nla_put_u64_64bit(skb, NF_CKPT_REC_A_AGE_MS, v.age_ms,
			      NF_CKPT_REC_A_PAD) ||
	    nla_put_u64_64bit(skb, NF_CKPT_REC_A_EXPIRES_MS, v.expires_ms,
			      NF_CKPT_REC_A_PAD))
		goto cancel;
	payload = nla_reserve(skb, NF_CKPT_REC_A_PAYLOAD | NLA_F_NESTED, v.len);
	if (!payload)
		goto cancel;
	memcpy(nla_data(payload), v.payload, v.len);
	nla_nest_end(skb, nest);
	return 0;

cancel:
	nla_nest_cancel(skb, nest);
	return -EMSGSIZE;
}

/* Events ------------------------------------------------------------- */

static bool nf_ckpt_listeners(struct net *net)
{
	return READ_ONCE(nf_ckpt_events_on) &&
	       genl_has_listeners(&nf_ckpt_genl_family, net,
				  NF_CKPT_GRP_EVENTS);
}

/* Any context; called under RCU, which holds off nf_ckpt_genl_exit(). */
void nf_ckpt_notify_put(struct net *net, const struct nf_ckpt_rec_view *v)
{
	struct sk_buff *skb;
	void *hdr;

	if (!nf_ckpt_listeners(net))
		return;
	skb = genlmsg_new(nf_ckpt_rec_size(v->len), GFP_ATOMIC);
	if (!skb)
		return;
	hdr = genlmsg_put(skb, 0, 0, &nf_ckpt_genl_family, 0, NF_CKPT_CMD_PUT);
	if (!hdr || nf_ckpt_fill_rec(skb, v)) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	genlmsg_multicast_netns(&nf_ckpt_genl_family, net, skb, 0,
				NF_CKPT_GRP_EVENTS, GFP_ATOMIC);
}

/* Any context. */
void nf_ckpt_notify_del(struct net *net, u64 id, u16 layer)
{
	struct sk_buff *skb;
	void *hdr;

	rcu_read_lock();
	if (!nf_ckpt_listeners(net))
		goto out;
	skb = genlmsg_new(nla_total_size_64bit(sizeof(u64)) +
			  nla_total_size(sizeof(u16)), GFP_ATOMIC);
	if (!skb)
		goto out;
	hdr = genlmsg_put(skb, 0, 0, &nf_ckpt_genl_family, 0, NF_CKPT_CMD_DEL);
	if (!hdr ||
	    nla_put_u64_64bit(skb, NF_CKPT_A_ID, id, NF_CKPT_A_PAD) ||
	    (layer && nla_put_u16(skb, NF_CKPT_A_LAYER, layer))) {
		nlmsg_free(skb);
		goto out;
	}
	genlmsg_end(skb, hdr);
	genlmsg_multicast_netns(&nf_ckpt_genl_family, net, skb, 0,
				NF_CKPT_GRP_EVENTS, GFP_ATOMIC);
out:
	rcu_read_unlock();
}

/* STATUS ------------------------------------------------------------- */

static int nf_ckpt_skb_put_u64(struct sk_buff *skb, int type, u64 v)
{
	return nla_put_u64_64bit(skb, type, v, NF_CKPT_STAT_A_PAD);
}

static int nf_ckpt_fill_layer_stats(struct sk_buff *skb,
				    const struct nf_ckpt_stats *st)
{
	struct nlattr *nest;
	unsigned int i;

	for (i = 0; i < NF_CKPT_NLAYERS; i++) {
		if (!st->lrecords[i])
			continue;
		nest = nla_nest_start(skb, NF_CKPT_STAT_A_LAYER);
		if (!nest ||
		    nla_put_u16(skb, NF_CKPT_LSTAT_A_LAYER, i + 1) ||
		    nla_put_u64_64bit(skb, NF_CKPT_LSTAT_A_RECORDS,
				      st->lrecords[i], NF_CKPT_LSTAT_A_PAD) ||
		    nla_put_u64_64bit(skb, NF_CKPT_LSTAT_A_BYTES,
				      st->lbytes[i], NF_CKPT_LSTAT_A_PAD))
			return -EMSGSIZE;
		nla_nest_end(skb, nest);
	}
	return 0;
}

/* A container's netns: its share of the store, where one is set. */
static int nf_ckpt_fill_share(struct sk_buff *skb, struct net *net)
{
	unsigned long bytes = READ_ONCE(nf_ckpt_netns_max_bytes);
	unsigned long records = READ_ONCE(nf_ckpt_netns_max_records);

	if (!nf_ckpt_pernet(net)->capped)
		return 0;
	if (bytes &&
	    nf_ckpt_skb_put_u64(skb, NF_CKPT_STAT_A_NETNS_LIMIT_BYTES, bytes))
		return -EMSGSIZE;
	if (records &&
	    nf_ckpt_skb_put_u64(skb, NF_CKPT_STAT_A_NETNS_LIMIT_RECORDS, records))
		return -EMSGSIZE;
	return 0;
}

static int nf_ckpt_fill_status(struct sk_buff *skb, struct net *net)
{
	struct nf_ckpt_stats st;
	struct nlattr *nest;

	nf_ckpt_stats_read(net, &st);
	nest = nla_nest_start(skb, NF_CKPT_A_STATUS);
	if (!nest ||
	    nf_ckpt_skb_put_u64(skb, NF_CKPT_STAT_A_INSTANCE,
			    nf_ckpt_store_instance()) ||
	    nf_ckpt_skb_put_u64(skb, NF_CKPT_STAT_A_HIGHEST_ID,
			    nf_ckpt_store_highest_id(net)) ||
	    nf_ckpt_skb_put_u64(skb, NF_CKPT_STAT_A_CONNECTIONS, st.conns) ||
	    nf_ckpt_skb_put_u64(skb, NF_CKPT_STAT_A_RECORDS, st.records) ||
	    nf_ckpt_skb_put_u64(skb, NF_CKPT_STAT_A_BYTES, st.bytes) ||
	    nf_ckpt_skb_put_u64(skb, NF_CKPT_STAT_A_LIMIT_BYTES,
			    READ_ONCE(nf_ckpt_max_bytes)) ||
	    nf_ckpt_skb_put_u64(skb, NF_CKPT_STAT_A_LIMIT_RECORDS,
			    READ_ONCE(nf_ckpt_max_records)) ||
	    nf_ckpt_skb_put_u64(skb, NF_CKPT_STAT_A_PUTS, st.puts) ||
	    nf_ckpt_skb_put_u64(skb, NF_CKPT_STAT_A_UPDATES, st.updates) ||
	    nf_ckpt_skb_put_u64(skb, NF_CKPT_STAT_A_DELETES, st.deletes) ||
	    nf_ckpt_skb_put_u64(skb, NF_CKPT_STAT_A_EXPIRED, st.expired) ||
	    nf_ckpt_skb_put_u64(skb, NF_CKPT_STAT_A_REFUSED, st.refused) ||
	    (nf_ckpt_restorer_present() &&
	     nla_put_flag(skb, NF_CKPT_STAT_A_RESTORER)) ||
	    nf_ckpt_fill_layer_stats(skb, &st) ||
	    nf_ckpt_fill_share(skb, net))
		return -EMSGSIZE;
	nla_nest_end(skb, nest);
	return 0;
}

static int nf_ckpt_cmd_status(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &nf_ckpt_genl_family, 0,
				NF_CKPT_CMD_STATUS);
	if (!hdr || nf_ckpt_fill_status(msg, genl_info_net(info))) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

/* GET ---------------------------------------------------------------- */

/* do: one message, NF_CKPT_A_RECORD repeated, the ID's records in order. */
static int nf_ckpt_cmd_get(struct sk_buff *skb, struct genl_info *info)
{
	struct nf_ckpt_snap s;
	struct sk_buff *msg;
	size_t size = 0;
	unsigned int i;
	void *hdr;
	int err;
	u64 id;

	err = nf_ckpt_req_id(info, &id);
	if (err)
		return err;
	err = nf_ckpt_snap_alloc(&s, GFP_KERNEL);
	if (err)
		return err;
	if (!nf_ckpt_snap_get(genl_info_net(info), id, &s)) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NF_CKPT_A_ID],
				    "no record with this ID");
		err = -ENOENT;
		goto out;
	}
	for (i = 0; i < s.n; i++)
		size += nf_ckpt_rec_size(s.v[i].len);
	err = -ENOMEM;
	msg = genlmsg_new(size, GFP_KERNEL);
	if (!msg)
		goto out;
	err = -EMSGSIZE;
	hdr = genlmsg_put_reply(msg, info, &nf_ckpt_genl_family, 0,
				NF_CKPT_CMD_GET);
	if (!hdr)
		goto err_free;
	for (i = 0; i < s.n; i++)
		if (nf_ckpt_fill_rec(msg, &s.v[i]))
			goto err_free;
	genlmsg_end(msg, hdr);
	nf_ckpt_snap_free(&s);
	return genlmsg_reply(msg, info);

err_free:
	nlmsg_free(msg);
out:
	nf_ckpt_snap_free(&s);
	return err;
}

/*
 * dump: the IDs present at the start, sorted, one message per record.
 * Resumes at (pos, idx); holds no lock between messages; the snapshot is
 * freed by .done, which netlink calls also for a dump abandoned halfway.
 */
struct nf_ckpt_dump_ctx {
	u64		*ids;
	size_t		n;
	size_t		pos;	/* index in ids */
	unsigned int	idx;	/* next layer index of ids[pos] */
};

static_assert(sizeof(struct nf_ckpt_dump_ctx) <=
	      sizeof_field(struct netlink_callback, ctx));

static int nf_ckpt_dump_start(struct netlink_callback *cb)
{
	struct nf_ckpt_dump_ctx *ctx = (struct nf_ckpt_dump_ctx *)cb->ctx;
	struct nlattr **attrs = nf_ckpt_genl_dump_attrs(cb);
	int err;
	u64 id;

	/* Any record fits in one skb, whatever buffer userspace reads with. */
	cb->min_dump_alloc = nlmsg_total_size(GENL_HDRLEN +
				nf_ckpt_rec_size(NF_CKPT_MAX_PAYLOAD));

	if (attrs && attrs[NF_CKPT_A_ID]) {
		err = nf_ckpt_check_id(attrs[NF_CKPT_A_ID], &id, cb->extack);
		if (err)
			return err;
		ctx->ids = kvmalloc(sizeof(*ctx->ids), GFP_KERNEL);
		if (!ctx->ids)
			return -ENOMEM;
		ctx->ids[0] = id;
		ctx->n = 1;
		return 0;
	}
	return nf_ckpt_snapshot_ids(sock_net(cb->skb->sk), &ctx->ids, &ctx->n);
}

static int nf_ckpt_dump_done(struct netlink_callback *cb)
{
	struct nf_ckpt_dump_ctx *ctx = (struct nf_ckpt_dump_ctx *)cb->ctx;

	kvfree(ctx->ids);
	ctx->ids = NULL;
	return 0;
}

static int nf_ckpt_dump_rec(struct sk_buff *skb, struct netlink_callback *cb,
			    const struct nf_ckpt_rec_view *v)
{
	void *hdr;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &nf_ckpt_genl_family, NLM_F_MULTI, NF_CKPT_CMD_GET);
	if (!hdr)
		return -EMSGSIZE;
	if (nf_ckpt_fill_rec(skb, v)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

static int nf_ckpt_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct nf_ckpt_dump_ctx *ctx = (struct nf_ckpt_dump_ctx *)cb->ctx;
	struct net *net = sock_net(skb->sk);
	u64 now = get_jiffies_64();
	u8 buf[NF_CKPT_PACKED_MAX];
	struct nf_ckpt_rec_view v;
	struct nf_ckpt_slot *c;
	unsigned int sent = 0;
	int err = 0;
	u64 id;

	rcu_read_lock();
	for (; ctx->pos < ctx->n; ctx->pos++, ctx->idx = 0) {
		id = ctx->ids[ctx->pos];
		c = nf_ckpt_slot_find_rcu(net, id);
		if (!c)
			continue;
		for (; ctx->idx < NF_CKPT_NLAYERS; ctx->idx++) {
			if (!nf_ckpt_slot_view(c, ctx->idx, now, &v, buf,
					       sizeof(buf)))
				continue;
			err = nf_ckpt_dump_rec(skb, cb, &v);
			if (err)
				goto out;
			sent++;
		}
	}
out:
	rcu_read_unlock();
	/* A record that does not fit an empty skb would loop forever. */
	if (err && !sent)
		return err;
	return skb->len;
}

/* FORGET, FLUSH ------------------------------------------------------ */

static int nf_ckpt_cmd_forget(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	u16 layer = 0;
	int err;
	u64 id;

	err = nf_ckpt_req_id(info, &id);
	if (err)
		return err;
	if (info->attrs[NF_CKPT_A_LAYER]) {
		err = nf_ckpt_check_layer(info->attrs[NF_CKPT_A_LAYER], &layer,
					  info->extack);
		if (err)
			return err;
		err = nf_ckpt_store_del(net, id, layer);
	} else {
		err = nf_ckpt_store_forget(net, id);
	}
	if (err == -ENOENT)
		NL_SET_ERR_MSG_ATTR(info->extack,
				    info->attrs[layer ? NF_CKPT_A_LAYER :
							NF_CKPT_A_ID],
				    "no such record");
	return err;
}

static int nf_ckpt_cmd_flush(struct sk_buff *skb, struct genl_info *info)
{
	return nf_ckpt_flush(genl_info_net(info));
}

/* LOAD --------------------------------------------------------------- */

static int nf_ckpt_parse_rec(const struct nlattr *nla,
			     struct nf_ckpt_load_item *it,
			     struct netlink_ext_ack *extack)
{
	struct nlattr *tb[NF_CKPT_REC_A_MAX + 1];
	const struct nlattr *payload;
	u64 expires = 0, age = 0;
	u16 layer;
	int err;

	err = nla_parse_nested(tb, NF_CKPT_REC_A_MAX, nla, nf_ckpt_rec_policy,
			       extack);
	if (err)
		return err;
	if (NL_REQ_ATTR_CHECK(extack, nla, tb, NF_CKPT_REC_A_ID)) {
		NL_SET_ERR_MSG(extack, "record without NF_CKPT_REC_A_ID");
		return -EINVAL;
	}
	if (NL_REQ_ATTR_CHECK(extack, nla, tb, NF_CKPT_REC_A_LAYER)) {
		NL_SET_ERR_MSG(extack, "record without NF_CKPT_REC_A_LAYER");
		return -EINVAL;
	}
	if (NL_REQ_ATTR_CHECK(extack, nla, tb, NF_CKPT_REC_A_PAYLOAD)) {
		NL_SET_ERR_MSG(extack, "record without NF_CKPT_REC_A_PAYLOAD");
		return -EINVAL;
	}
	err = nf_ckpt_check_id(tb[NF_CKPT_REC_A_ID], &it->req.id, extack);
	if (err)
		return err;
	err = nf_ckpt_check_layer(tb[NF_CKPT_REC_A_LAYER], &layer, extack);
	if (err)
		return err;
	payload = tb[NF_CKPT_REC_A_PAYLOAD];
	if (nla_len(payload) > NF_CKPT_MAX_PAYLOAD) {
		NL_SET_ERR_MSG_ATTR(extack, payload,
				    "payload larger than NF_CKPT_MAX_PAYLOAD");
		return -EINVAL;
	}
	err = nf_ckpt_validate_payload(layer, nla_data(payload),
				       nla_len(payload), extack);
	if (err)
		return err;
	if (tb[NF_CKPT_REC_A_EXPIRES_MS])
		expires = nla_get_u64(tb[NF_CKPT_REC_A_EXPIRES_MS]);
	if (tb[NF_CKPT_REC_A_AGE_MS])
		age = nla_get_u64(tb[NF_CKPT_REC_A_AGE_MS]);
	it->req.layer = layer;
	it->req.payload = nla_data(payload);
	it->req.len = nla_len(payload);
	it->req.expires_ms = expires;
	it->req.age_ms = age;
	return 0;
}

static int nf_ckpt_item_cmp(const void *a, const void *b)
{
	const struct nf_ckpt_load_item *x = a, *y = b;

	if (x->req.id != y->req.id)
		return x->req.id < y->req.id ? -1 : 1;
	return (int)x->req.layer - (int)y->req.layer;
}

/*
 * All or nothing: every record is checked first, then the
 * exclusive check and the limits are applied to the whole message, then
 * the records are stored.  AGE_MS back-dates the record.
 */
static int nf_ckpt_cmd_load(struct sk_buff *skb, struct genl_info *info)
{
	const struct nlattr *attrs = genlmsg_data(info->genlhdr);
	int len = genlmsg_len(info->genlhdr);
	struct nf_ckpt_load_item *items;
	const struct nlattr *nla;
	size_t n = 0, i = 0;
	int rem, err;
	u32 flags;

	err = nf_ckpt_req_flags(info, NF_CKPT_LOAD_F_MASK, &flags);
	if (err)
		return err;
	nla_for_each_attr(nla, attrs, len, rem)
		if (nla_type(nla) == NF_CKPT_A_RECORD)
			n++;
	if (!n) {
		GENL_REQ_ATTR_CHECK(info, NF_CKPT_A_RECORD);
		GENL_SET_ERR_MSG(info, "missing NF_CKPT_A_RECORD");
		return -EINVAL;
	}
	items = kvcalloc(n, sizeof(*items), GFP_KERNEL);
	if (!items)
		return -ENOMEM;

	nla_for_each_attr(nla, attrs, len, rem) {
		if (nla_type(nla) != NF_CKPT_A_RECORD)
			continue;
		err = nf_ckpt_parse_rec(nla, &items[i], info->extack);
		if (err)
			goto out;
		i++;
		cond_resched();
	}

	sort(items, n, sizeof(*items), nf_ckpt_item_cmp, NULL);
	for (i = 1; i < n; i++) {
		if (!nf_ckpt_item_cmp(&items[i - 1], &items[i])) {
			GENL_SET_ERR_MSG(info,
					 "the same ID and layer twice in one message");
			err = -EINVAL;
			goto out;
		}
	}

	err = nf_ckpt_load_batch(genl_info_net(info), items, n,
				 flags & NF_CKPT_LOAD_F_EXCL, info->extack);
out:
	kvfree(items);
	return err;
}

/* RESTORE ------------------------------------------------------------ */

static int nf_ckpt_fill_restore(struct sk_buff *skb,
				const struct nf_ckpt_restore_stats *st)
{
	struct nlattr *nest;
	int a;

	nest = nla_nest_start(skb, NF_CKPT_A_RESTORE);
	if (!nest)
		return -EMSGSIZE;
	for (a = NF_CKPT_RES_A_UNSPEC + 1; a <= NF_CKPT_RES_A_MAX; a++)
		if (nla_put_u32(skb, a, a == NF_CKPT_RES_A_FAILED ?
				nf_ckpt_restore_failed(st) : st->v[a]))
			return -EMSGSIZE;
	nla_nest_end(skb, nest);
	return 0;
}

static int nf_ckpt_cmd_restore(struct sk_buff *skb, struct genl_info *info)
{
	struct nf_ckpt_restore_stats st = {};
	struct sk_buff *msg;
	void *hdr;
	u32 flags;
	int err;

	err = nf_ckpt_req_flags(info, NF_CKPT_RESTORE_F_MASK, &flags);
	if (err)
		return err;
	err = nf_ckpt_call_restorer(genl_info_net(info), flags, &st,
				    info->extack);
	if (err)
		return err;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &nf_ckpt_genl_family, 0,
				NF_CKPT_CMD_RESTORE);
	if (!hdr || nf_ckpt_fill_restore(msg, &st)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

/* The family --------------------------------------------------------- */

static const struct genl_ops nf_ckpt_genl_ops[] = {
	{
		.cmd		= NF_CKPT_CMD_STATUS,
		.doit		= nf_ckpt_cmd_status,
		.flags		= GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd		= NF_CKPT_CMD_GET,
		.doit		= nf_ckpt_cmd_get,
		.start		= nf_ckpt_dump_start,
		.dumpit		= nf_ckpt_dump,
		.done		= nf_ckpt_dump_done,
		.policy		= nf_ckpt_get_policy,
		.maxattr	= NF_CKPT_A_MAX,
		.flags		= GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd		= NF_CKPT_CMD_FORGET,
		.doit		= nf_ckpt_cmd_forget,
		.policy		= nf_ckpt_forget_policy,
		.maxattr	= NF_CKPT_A_MAX,
		.flags		= GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd		= NF_CKPT_CMD_FLUSH,
		.doit		= nf_ckpt_cmd_flush,
		.flags		= GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd		= NF_CKPT_CMD_LOAD,
		.doit		= nf_ckpt_cmd_load,
		.policy		= nf_ckpt_load_policy,
		.maxattr	= NF_CKPT_A_MAX,
		.flags		= GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd		= NF_CKPT_CMD_RESTORE,
		.doit		= nf_ckpt_cmd_restore,
		.policy		= nf_ckpt_restore_policy,
		.maxattr	= NF_CKPT_A_MAX,
		.flags		= GENL_UNS_ADMIN_PERM,
	},
};

/*
 * resv_start_op 0: every command is strict (header checked, unknown
 * attributes refused; STATUS and FLUSH take none).  Operations run in
 * parallel: a long LOAD or RESTORE must not hold genl_mutex.
 */
static struct genl_family nf_ckpt_genl_family __ro_after_init = {
	.name		= NF_CKPT_GENL_NAME,
	.version	= NF_CKPT_GENL_VERSION,
	.netnsok	= true,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.ops		= nf_ckpt_genl_ops,
	.n_ops		= ARRAY_SIZE(nf_ckpt_genl_ops),
	.resv_start_op	= 0,
	.mcgrps		= nf_ckpt_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(nf_ckpt_mcgrps),
};

int nf_ckpt_genl_init(void)
{
	int err;

	err = genl_register_family(&nf_ckpt_genl_family);
	if (err)
		return err;
	WRITE_ONCE(nf_ckpt_events_on, true);
	return 0;
}

void nf_ckpt_genl_exit(void)
{
	/* Events are sent under RCU: none is in flight after this. */
	WRITE_ONCE(nf_ckpt_events_on, false);
	synchronize_rcu();
	genl_unregister_family(&nf_ckpt_genl_family);
}
