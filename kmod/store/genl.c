// SPDX-License-Identifier: GPL-2.0
/*
 * The "nf_ckpt" generic-netlink family: status, get/dump, forget, flush,
 * load, restore, and the "events" multicast group.  Every operation needs
 * CAP_NET_ADMIN over the caller's netns: connection state is sensitive, so
 * this holds for reading ones too.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <net/genetlink.h>
#include <net/sock.h>

#include "store.h"

enum nf_ckpt_mcgrp {
	NF_CKPT_MCGRP_EVENTS_ID,
};

static const struct genl_multicast_group nf_ckpt_mcgrps[] = {
	[NF_CKPT_MCGRP_EVENTS_ID] = {
		.name	= NF_CKPT_MCGRP_EVENTS,
		.flags	= GENL_MCAST_CAP_NET_ADMIN,
	},
};

static const struct nla_policy nf_ckpt_rec_policy[NF_CKPT_REC_A_MAX + 1] = {
	[NF_CKPT_REC_A_ID]		= NLA_POLICY_MIN(NLA_U64, 1),
	[NF_CKPT_REC_A_LAYER]		= NLA_POLICY_RANGE(NLA_U16, NF_CKPT_LAYER_BASE,
							   NF_CKPT_LAYER_MAX),
	[NF_CKPT_REC_A_AGE_MS]		= { .type = NLA_U64 },
	[NF_CKPT_REC_A_EXPIRES_MS]	= { .type = NLA_U64 },
	[NF_CKPT_REC_A_PAYLOAD]		= { .type = NLA_NESTED },
};

/* STATUS and FLUSH take no attributes: any is refused. */
static const struct nla_policy nf_ckpt_none_policy[NF_CKPT_A_MAX + 1] = {
};

static const struct nla_policy nf_ckpt_get_policy[NF_CKPT_A_MAX + 1] = {
	[NF_CKPT_A_ID]		= NLA_POLICY_MIN(NLA_U64, 1),
};

static const struct nla_policy nf_ckpt_forget_policy[NF_CKPT_A_MAX + 1] = {
	[NF_CKPT_A_ID]		= NLA_POLICY_MIN(NLA_U64, 1),
	[NF_CKPT_A_LAYER]	= NLA_POLICY_RANGE(NLA_U16, NF_CKPT_LAYER_BASE,
						   NF_CKPT_LAYER_MAX),
};

static const struct nla_policy nf_ckpt_load_policy[NF_CKPT_A_MAX + 1] = {
	[NF_CKPT_A_FLAGS]	= NLA_POLICY_MASK(NLA_U32, NF_CKPT_LOAD_F_MASK),
	[NF_CKPT_A_RECORD]	= NLA_POLICY_NESTED(nf_ckpt_rec_policy),
};

static const struct nla_policy nf_ckpt_restore_policy[NF_CKPT_A_MAX + 1] = {
	[NF_CKPT_A_FLAGS]	= NLA_POLICY_MASK(NLA_U32, NF_CKPT_RESTORE_F_MASK),
};

int nf_ckpt_fill_record(struct sk_buff *skb, const struct nf_ckpt_rec *r)
{
	struct nf_ckpt_rec_view v;
	struct nlattr *rec, *payload;

	nf_ckpt_rec_view(r, &v);
	rec = nla_nest_start(skb, NF_CKPT_A_RECORD);
	if (!rec)
		return -EMSGSIZE;
	if (nla_put_u64_64bit(skb, NF_CKPT_REC_A_ID, v.id, NF_CKPT_REC_A_PAD) ||
	    nla_put_u16(skb, NF_CKPT_REC_A_LAYER, v.layer) ||
	    nla_put_u64_64bit(skb, NF_CKPT_REC_A_AGE_MS, v.age_ms,
			      NF_CKPT_REC_A_PAD) ||
	    (v.expires_ms &&
	     nla_put_u64_64bit(skb, NF_CKPT_REC_A_EXPIRES_MS, v.expires_ms,
			       NF_CKPT_REC_A_PAD)))
		goto cancel;
	payload = nla_reserve(skb, NF_CKPT_REC_A_PAYLOAD, v.len);
	if (!payload)
		goto cancel;
	payload->nla_type |= NLA_F_NESTED;
	memcpy(nla_data(payload), r->data, v.len);
	nla_nest_end(skb, rec);
	return 0;

cancel:
	nla_nest_cancel(skb, rec);
	return -EMSGSIZE;
}

static void nf_ckpt_multicast(struct net *net, struct sk_buff *skb)
{
	genlmsg_multicast_netns(&nf_ckpt_genl_family, net, skb, 0,
				NF_CKPT_MCGRP_EVENTS_ID, GFP_ATOMIC);
}

static bool nf_ckpt_listeners(struct net *net)
{
	return genl_has_listeners(&nf_ckpt_genl_family, net,
				  NF_CKPT_MCGRP_EVENTS_ID);
}

void nf_ckpt_notify_put(struct net *net, const struct nf_ckpt_rec *r)
{
	struct sk_buff *skb;
	void *hdr;

	if (!nf_ckpt_listeners(net))
		return;
	skb = genlmsg_new(nla_total_size(r->len) + 128, GFP_ATOMIC);
	if (!skb)
		return;
	hdr = genlmsg_put(skb, 0, 0, &nf_ckpt_genl_family, 0, NF_CKPT_CMD_PUT);
	if (!hdr || nf_ckpt_fill_record(skb, r)) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	nf_ckpt_multicast(net, skb);
}

void nf_ckpt_notify_del(struct net *net, u64 id, u16 layer)
{
	struct sk_buff *skb;
	void *hdr;

	if (!nf_ckpt_listeners(net))
		return;
	skb = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_ATOMIC);
	if (!skb)
		return;
	hdr = genlmsg_put(skb, 0, 0, &nf_ckpt_genl_family, 0, NF_CKPT_CMD_DEL);
	if (!hdr ||
	    nla_put_u64_64bit(skb, NF_CKPT_A_ID, id, NF_CKPT_A_PAD) ||
	    (layer && nla_put_u16(skb, NF_CKPT_A_LAYER, layer))) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	nf_ckpt_multicast(net, skb);
}

static int nf_ckpt_put_u64(struct sk_buff *skb, int type, u64 v)
{
	return nla_put_u64_64bit(skb, type, v, NF_CKPT_STAT_A_PAD);
}

static int nf_ckpt_fill_layer_stats(struct sk_buff *skb,
				    const struct nf_ckpt_stats *st)
{
	struct nlattr *nest;
	int l;

	for (l = NF_CKPT_LAYER_BASE; l <= NF_CKPT_LAYER_MAX; l++) {
		if (!st->layer[l].records)
			continue;
		nest = nla_nest_start(skb, NF_CKPT_STAT_A_LAYER);
		if (!nest ||
		    nla_put_u16(skb, NF_CKPT_LSTAT_A_LAYER, l) ||
		    nla_put_u64_64bit(skb, NF_CKPT_LSTAT_A_RECORDS,
				      st->layer[l].records, NF_CKPT_LSTAT_A_PAD) ||
		    nla_put_u64_64bit(skb, NF_CKPT_LSTAT_A_BYTES,
				      st->layer[l].bytes, NF_CKPT_LSTAT_A_PAD))
			return -EMSGSIZE;
		nla_nest_end(skb, nest);
	}
	return 0;
}

static int nf_ckpt_fill_status(struct sk_buff *skb, struct net *net)
{
	struct nf_ckpt_stats st;
	struct nlattr *nest;

	nf_ckpt_stats_read(net, &st);
	nest = nla_nest_start(skb, NF_CKPT_A_STATUS);
	if (!nest ||
	    nf_ckpt_put_u64(skb, NF_CKPT_STAT_A_INSTANCE, nf_ckpt_store_instance()) ||
	    nf_ckpt_put_u64(skb, NF_CKPT_STAT_A_HIGHEST_ID, nf_ckpt_store_highest_id()) ||
	    nf_ckpt_put_u64(skb, NF_CKPT_STAT_A_CONNECTIONS, st.connections) ||
	    nf_ckpt_put_u64(skb, NF_CKPT_STAT_A_RECORDS, st.records) ||
	    nf_ckpt_put_u64(skb, NF_CKPT_STAT_A_BYTES, st.bytes) ||
	    nf_ckpt_put_u64(skb, NF_CKPT_STAT_A_LIMIT_BYTES, READ_ONCE(nf_ckpt_max_bytes)) ||
	    nf_ckpt_put_u64(skb, NF_CKPT_STAT_A_LIMIT_RECORDS, READ_ONCE(nf_ckpt_max_records)) ||
	    nf_ckpt_put_u64(skb, NF_CKPT_STAT_A_PUTS, st.puts) ||
	    nf_ckpt_put_u64(skb, NF_CKPT_STAT_A_UPDATES, st.updates) ||
	    nf_ckpt_put_u64(skb, NF_CKPT_STAT_A_DELETES, st.deletes) ||
	    nf_ckpt_put_u64(skb, NF_CKPT_STAT_A_EXPIRED, st.expired) ||
	    nf_ckpt_put_u64(skb, NF_CKPT_STAT_A_REFUSED, st.refused) ||
	    (nf_ckpt_restorer_present() &&
	     nla_put_flag(skb, NF_CKPT_STAT_A_RESTORER)) ||
	    nf_ckpt_fill_layer_stats(skb, &st))
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

/* GET do: one message with every record of the ID. */
static int nf_ckpt_cmd_get(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct nf_ckpt_snap s;
	struct sk_buff *msg;
	size_t size = 0;
	unsigned int i;
	void *hdr;
	u64 id;

	if (GENL_REQ_ATTR_CHECK(info, NF_CKPT_A_ID))
		return -EINVAL;
	id = nla_get_u64(info->attrs[NF_CKPT_A_ID]);
	if (nf_ckpt_snap_next(nf_ckpt_pernet(net), id, true, &s)) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NF_CKPT_A_ID],
				    "no record with this ID");
		return -ENOENT;
	}
	for (i = 0; i < s.n; i++)
		size += nla_total_size(s.rec[i]->len) + 64;
	msg = genlmsg_new(size, GFP_KERNEL);
	if (!msg)
		goto nomem;
	hdr = genlmsg_put_reply(msg, info, &nf_ckpt_genl_family, 0,
				NF_CKPT_CMD_GET);
	if (!hdr)
		goto nomem;
	for (i = 0; i < s.n; i++)
		if (nf_ckpt_fill_record(msg, s.rec[i]))
			goto nomem;
	nf_ckpt_snap_release(&s);
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

nomem:
	nlmsg_free(msg);
	nf_ckpt_snap_release(&s);
	return -ENOMEM;
}

/*
 * GET dump, resumable: args[0] = last ID fully sent, args[1] = records of
 * the next ID already sent, args[2] = ID filter (0: all), args[3] = done.
 */
static int nf_ckpt_dump_start(struct netlink_callback *cb)
{
	struct nlattr **attrs = nf_ckpt_genl_dump_attrs(cb);

	if (attrs && attrs[NF_CKPT_A_ID])
		cb->args[2] = nla_get_u64(attrs[NF_CKPT_A_ID]);
	return 0;
}

static int nf_ckpt_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct nf_ckpt_net *cn = nf_ckpt_pernet(sock_net(skb->sk));
	u64 filter = cb->args[2];
	struct nf_ckpt_snap s;
	unsigned int i;
	void *hdr;

	if (cb->args[3])
		return 0;
	for (;;) {
		if (filter ? nf_ckpt_snap_next(cn, filter, true, &s) :
			     nf_ckpt_snap_next(cn, cb->args[0], false, &s))
			break;
		if (filter && cb->args[0] == filter) {
			nf_ckpt_snap_release(&s);
			break;
		}
		for (i = cb->args[1]; i < s.n; i++) {
			hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
					  cb->nlh->nlmsg_seq, &nf_ckpt_genl_family,
					  NLM_F_MULTI, NF_CKPT_CMD_GET);
			if (!hdr)
				goto full;
			if (nf_ckpt_fill_record(skb, s.rec[i])) {
				genlmsg_cancel(skb, hdr);
				goto full;
			}
			genlmsg_end(skb, hdr);
		}
		cb->args[0] = s.id;
		cb->args[1] = 0;
		nf_ckpt_snap_release(&s);
		cond_resched();
	}
	cb->args[3] = 1;
	return skb->len;

full:
	cb->args[1] = i;
	nf_ckpt_snap_release(&s);
	/* A single record larger than a dump skb cannot happen: payloads
	 * are capped at NF_CKPT_MAX_PAYLOAD.
	 */
	return skb->len;
}

static int nf_ckpt_cmd_forget(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	u64 id;
	int err;

	if (GENL_REQ_ATTR_CHECK(info, NF_CKPT_A_ID))
		return -EINVAL;
	id = nla_get_u64(info->attrs[NF_CKPT_A_ID]);
	if (info->attrs[NF_CKPT_A_LAYER])
		err = nf_ckpt_store_del(net, id,
					nla_get_u16(info->attrs[NF_CKPT_A_LAYER]));
	else
		err = nf_ckpt_store_forget(net, id);
	if (err == -ENOENT)
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NF_CKPT_A_ID],
				    "no such record");
	return err;
}

static int nf_ckpt_cmd_flush(struct sk_buff *skb, struct genl_info *info)
{
	nf_ckpt_flush(genl_info_net(info));
	return 0;
}

static struct nf_ckpt_rec *nf_ckpt_parse_record(const struct nlattr *nla,
						struct netlink_ext_ack *extack,
						int *err)
{
	struct nlattr *tb[NF_CKPT_REC_A_MAX + 1];
	const struct nlattr *pl;
	struct nf_ckpt_rec *r;
	u64 expires = 0, age = 0;
	u16 layer;

	*err = nla_parse_nested(tb, NF_CKPT_REC_A_MAX, nla, nf_ckpt_rec_policy,
				extack);
	if (*err)
		return NULL;
	*err = -EINVAL;
	if (NL_REQ_ATTR_CHECK(extack, nla, tb, NF_CKPT_REC_A_ID) ||
	    NL_REQ_ATTR_CHECK(extack, nla, tb, NF_CKPT_REC_A_LAYER) ||
	    NL_REQ_ATTR_CHECK(extack, nla, tb, NF_CKPT_REC_A_PAYLOAD))
		return NULL;
	layer = nla_get_u16(tb[NF_CKPT_REC_A_LAYER]);
	pl = tb[NF_CKPT_REC_A_PAYLOAD];
	*err = nf_ckpt_validate_payload(layer, nla_data(pl), nla_len(pl), extack);
	if (*err)
		return NULL;
	if (tb[NF_CKPT_REC_A_EXPIRES_MS])
		expires = nla_get_u64(tb[NF_CKPT_REC_A_EXPIRES_MS]);
	if (tb[NF_CKPT_REC_A_AGE_MS])
		age = nla_get_u64(tb[NF_CKPT_REC_A_AGE_MS]);
	r = nf_ckpt_rec_alloc(nla_get_u64(tb[NF_CKPT_REC_A_ID]), layer,
			      nla_data(pl), nla_len(pl), expires, age, GFP_KERNEL);
	*err = r ? 0 : -ENOMEM;
	return r;
}

static int nf_ckpt_cmd_load(struct sk_buff *skb, struct genl_info *info)
{
	const struct nlattr *attrs = genlmsg_data(info->genlhdr);
	int len = genlmsg_len(info->genlhdr);
	struct nf_ckpt_rec **recs;
	const struct nlattr *nla;
	unsigned int n = 0, i;
	bool excl = false;
	int rem, err = 0;

	if (info->attrs[NF_CKPT_A_FLAGS])
		excl = nla_get_u32(info->attrs[NF_CKPT_A_FLAGS]) &
		       NF_CKPT_LOAD_F_EXCL;
	nla_for_each_attr(nla, attrs, len, rem)
		if (nla_type(nla) == NF_CKPT_A_RECORD)
			n++;
	if (!n) {
		NL_SET_ERR_MSG_MOD(info->extack, "no NF_CKPT_A_RECORD to load");
		return -EINVAL;
	}
	recs = kvcalloc(n, sizeof(*recs), GFP_KERNEL);
	if (!recs)
		return -ENOMEM;
	i = 0;
	nla_for_each_attr(nla, attrs, len, rem) {
		if (nla_type(nla) != NF_CKPT_A_RECORD)
			continue;
		recs[i] = nf_ckpt_parse_record(nla, info->extack, &err);
		if (!recs[i])
			goto out;
		i++;
	}
	err = nf_ckpt_insert_batch(genl_info_net(info), recs, n, excl,
				   info->extack);
	if (!err)
		i = 0;	/* the store owns them now */
out:
	while (i)
		kfree(recs[--i]);
	kvfree(recs);
	return err;
}

static int nf_ckpt_put_u32s(struct sk_buff *skb,
			    const struct nf_ckpt_restore_stats *st)
{
	u32 failed = st->fail_nomem + st->fail_nospc + st->fail_helper +
		     st->fail_nat + st->fail_inval + st->fail_other;

	return nla_put_u32(skb, NF_CKPT_RES_A_RESTORED, st->restored) ||
	       nla_put_u32(skb, NF_CKPT_RES_A_EXISTING, st->existing) ||
	       nla_put_u32(skb, NF_CKPT_RES_A_FAILED, failed) ||
	       nla_put_u32(skb, NF_CKPT_RES_A_EXPECTS, st->expects) ||
	       nla_put_u32(skb, NF_CKPT_RES_A_FAIL_NOMEM, st->fail_nomem) ||
	       nla_put_u32(skb, NF_CKPT_RES_A_FAIL_NOSPC, st->fail_nospc) ||
	       nla_put_u32(skb, NF_CKPT_RES_A_FAIL_HELPER, st->fail_helper) ||
	       nla_put_u32(skb, NF_CKPT_RES_A_FAIL_NAT, st->fail_nat) ||
	       nla_put_u32(skb, NF_CKPT_RES_A_FAIL_INVAL, st->fail_inval) ||
	       nla_put_u32(skb, NF_CKPT_RES_A_FAIL_OTHER, st->fail_other) ||
	       nla_put_u32(skb, NF_CKPT_RES_A_FAIL_EXPECT, st->fail_expect);
}

static int nf_ckpt_cmd_restore(struct sk_buff *skb, struct genl_info *info)
{
	struct nf_ckpt_restore_stats st = {};
	struct sk_buff *msg;
	struct nlattr *nest;
	u32 flags = 0;
	void *hdr;
	int err;

	if (info->attrs[NF_CKPT_A_FLAGS])
		flags = nla_get_u32(info->attrs[NF_CKPT_A_FLAGS]);
	err = nf_ckpt_call_restorer(genl_info_net(info), flags, &st,
				    info->extack);
	if (err)
		return err;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &nf_ckpt_genl_family, 0,
				NF_CKPT_CMD_RESTORE);
	if (!hdr)
		goto nospace;
	nest = nla_nest_start(msg, NF_CKPT_A_RESTORE);
	if (!nest || nf_ckpt_put_u32s(msg, &st))
		goto nospace;
	nla_nest_end(msg, nest);
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

nospace:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

static const struct genl_ops nf_ckpt_genl_ops[] = {
	{
		.cmd		= NF_CKPT_CMD_STATUS,
		.doit		= nf_ckpt_cmd_status,
		.policy		= nf_ckpt_none_policy,
		.maxattr	= NF_CKPT_A_MAX,
		.flags		= GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd		= NF_CKPT_CMD_GET,
		.doit		= nf_ckpt_cmd_get,
		.start		= nf_ckpt_dump_start,
		.dumpit		= nf_ckpt_dump,
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
		.policy		= nf_ckpt_none_policy,
		.maxattr	= NF_CKPT_A_MAX,
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

struct genl_family nf_ckpt_genl_family __ro_after_init = {
	.name		= NF_CKPT_GENL_NAME,
	.version	= NF_CKPT_GENL_VERSION,
	.netnsok	= true,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.ops		= nf_ckpt_genl_ops,
	.n_ops		= ARRAY_SIZE(nf_ckpt_genl_ops),
	.resv_start_op	= NF_CKPT_CMD_RESTORE + 1,
	.mcgrps		= nf_ckpt_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(nf_ckpt_mcgrps),
};

int nf_ckpt_genl_init(void)
{
	return genl_register_family(&nf_ckpt_genl_family);
}

void nf_ckpt_genl_exit(void)
{
	genl_unregister_family(&nf_ckpt_genl_family);
}
