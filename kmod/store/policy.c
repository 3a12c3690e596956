// SPDX-License-Identifier: GPL-2.0
/*
 * The attribute policies of record payloads, one per layer.  The store
 * validates every payload it is given (by nf_ckpt_ct or by LOAD from
 * userspace) so that readers can trust the shape of what they get back.
 */
#include <net/netlink.h>

#include "store.h"

static int nf_ckpt_validate_addr(const struct nlattr *attr,
				 struct netlink_ext_ack *extack)
{
	if (nla_len(attr) == 4 || nla_len(attr) == 16)
		return 0;
	NL_SET_ERR_MSG_ATTR(extack, attr, "address must be 4 or 16 bytes");
	return -EINVAL;
}

#define NF_CKPT_POLICY_ADDR \
	NLA_POLICY_VALIDATE_FN(NLA_BINARY, nf_ckpt_validate_addr, 16)

const struct nla_policy nf_ckpt_tuple_policy[NF_CKPT_TUPLE_A_MAX + 1] = {
	[NF_CKPT_TUPLE_A_SRC]		= NF_CKPT_POLICY_ADDR,
	[NF_CKPT_TUPLE_A_DST]		= NF_CKPT_POLICY_ADDR,
	[NF_CKPT_TUPLE_A_SPORT]		= { .type = NLA_BE16 },
	[NF_CKPT_TUPLE_A_DPORT]		= { .type = NLA_BE16 },
	[NF_CKPT_TUPLE_A_ICMP_ID]	= { .type = NLA_BE16 },
	[NF_CKPT_TUPLE_A_ICMP_TYPE]	= { .type = NLA_U8 },
	[NF_CKPT_TUPLE_A_ICMP_CODE]	= { .type = NLA_U8 },
};
EXPORT_SYMBOL_GPL(nf_ckpt_tuple_policy);

const struct nla_policy nf_ckpt_nat_policy[NF_CKPT_NAT_A_MAX + 1] = {
	[NF_CKPT_NAT_A_ADDR]		= NF_CKPT_POLICY_ADDR,
	[NF_CKPT_NAT_A_PORT]		= { .type = NLA_BE16 },
};
EXPORT_SYMBOL_GPL(nf_ckpt_nat_policy);

const struct nla_policy nf_ckpt_base_policy[NF_CKPT_BASE_A_MAX + 1] = {
	[NF_CKPT_BASE_A_FAMILY]		= { .type = NLA_U8 },
	[NF_CKPT_BASE_A_PROTO]		= { .type = NLA_U8 },
	[NF_CKPT_BASE_A_ZONE]		= { .type = NLA_U16 },
	[NF_CKPT_BASE_A_ZONE_DIR]	= { .type = NLA_U8 },
	[NF_CKPT_BASE_A_TUPLE_ORIG]	= NLA_POLICY_NESTED(nf_ckpt_tuple_policy),
	[NF_CKPT_BASE_A_TUPLE_REPLY]	= NLA_POLICY_NESTED(nf_ckpt_tuple_policy),
	[NF_CKPT_BASE_A_STATUS]		= { .type = NLA_U32 },
	[NF_CKPT_BASE_A_MARK]		= { .type = NLA_U32 },
	[NF_CKPT_BASE_A_LABELS]		= NLA_POLICY_EXACT_LEN(16),
	[NF_CKPT_BASE_A_TIMEOUT_MS]	= { .type = NLA_U64 },
	[NF_CKPT_BASE_A_NAT_SRC]	= NLA_POLICY_NESTED(nf_ckpt_nat_policy),
	[NF_CKPT_BASE_A_NAT_DST]	= NLA_POLICY_NESTED(nf_ckpt_nat_policy),
	[NF_CKPT_BASE_A_MASTER_ID]	= { .type = NLA_U64 },
};
EXPORT_SYMBOL_GPL(nf_ckpt_base_policy);

const struct nla_policy nf_ckpt_tcpw_policy[NF_CKPT_TCPW_A_MAX + 1] = {
	[NF_CKPT_TCPW_A_END]		= { .type = NLA_U32 },
	[NF_CKPT_TCPW_A_MAXEND]		= { .type = NLA_U32 },
	[NF_CKPT_TCPW_A_MAXWIN]		= { .type = NLA_U32 },
	[NF_CKPT_TCPW_A_MAXACK]		= { .type = NLA_U32 },
	[NF_CKPT_TCPW_A_WSCALE]		= NLA_POLICY_MAX(NLA_U8, 14),
	[NF_CKPT_TCPW_A_FLAGS]		= { .type = NLA_U8 },
};
EXPORT_SYMBOL_GPL(nf_ckpt_tcpw_policy);

const struct nla_policy nf_ckpt_tcp_policy[NF_CKPT_TCP_A_MAX + 1] = {
	[NF_CKPT_TCP_A_STATE]		= { .type = NLA_U8 },
	[NF_CKPT_TCP_A_ORIG]		= NLA_POLICY_NESTED(nf_ckpt_tcpw_policy),
	[NF_CKPT_TCP_A_REPLY]		= NLA_POLICY_NESTED(nf_ckpt_tcpw_policy),
	[NF_CKPT_TCP_A_LAST_DIR]	= NLA_POLICY_MAX(NLA_U8, 1),
	[NF_CKPT_TCP_A_RETRANS]		= { .type = NLA_U8 },
	[NF_CKPT_TCP_A_LAST_INDEX]	= { .type = NLA_U8 },
	[NF_CKPT_TCP_A_LAST_SEQ]	= { .type = NLA_U32 },
	[NF_CKPT_TCP_A_LAST_ACK]	= { .type = NLA_U32 },
	[NF_CKPT_TCP_A_LAST_END]	= { .type = NLA_U32 },
	[NF_CKPT_TCP_A_LAST_WIN]	= { .type = NLA_U16 },
	[NF_CKPT_TCP_A_LAST_WSCALE]	= { .type = NLA_U8 },
	[NF_CKPT_TCP_A_LAST_FLAGS]	= { .type = NLA_U8 },
};
EXPORT_SYMBOL_GPL(nf_ckpt_tcp_policy);

const struct nla_policy nf_ckpt_sctp_policy[NF_CKPT_SCTP_A_MAX + 1] = {
	[NF_CKPT_SCTP_A_STATE]		= { .type = NLA_U8 },
	[NF_CKPT_SCTP_A_VTAG_ORIG]	= { .type = NLA_BE32 },
	[NF_CKPT_SCTP_A_VTAG_REPLY]	= { .type = NLA_BE32 },
	[NF_CKPT_SCTP_A_INIT_ORIG]	= { .type = NLA_U8 },
	[NF_CKPT_SCTP_A_INIT_REPLY]	= { .type = NLA_U8 },
	[NF_CKPT_SCTP_A_LAST_DIR]	= NLA_POLICY_MAX(NLA_U8, 1),
	[NF_CKPT_SCTP_A_FLAGS]		= { .type = NLA_U8 },
};
EXPORT_SYMBOL_GPL(nf_ckpt_sctp_policy);

const struct nla_policy nf_ckpt_udp_policy[NF_CKPT_UDP_A_MAX + 1] = {
	[NF_CKPT_UDP_A_STREAM]		= { .type = NLA_FLAG },
};
EXPORT_SYMBOL_GPL(nf_ckpt_udp_policy);

const struct nla_policy nf_ckpt_l4_policy[NF_CKPT_L4_A_MAX + 1] = {
	[NF_CKPT_L4_A_TCP]		= NLA_POLICY_NESTED(nf_ckpt_tcp_policy),
	[NF_CKPT_L4_A_SCTP]		= NLA_POLICY_NESTED(nf_ckpt_sctp_policy),
	[NF_CKPT_L4_A_UDP]		= NLA_POLICY_NESTED(nf_ckpt_udp_policy),
};
EXPORT_SYMBOL_GPL(nf_ckpt_l4_policy);

const struct nla_policy nf_ckpt_helper_policy[NF_CKPT_HELPER_A_MAX + 1] = {
	[NF_CKPT_HELPER_A_NAME]		= { .type = NLA_NUL_STRING, .len = 15 },
	[NF_CKPT_HELPER_A_DATA]		= { .type = NLA_BINARY, .len = 1024 },
};
EXPORT_SYMBOL_GPL(nf_ckpt_helper_policy);

const struct nla_policy nf_ckpt_seqadj_dir_policy[NF_CKPT_SEQADJ_DIR_A_MAX + 1] = {
	[NF_CKPT_SEQADJ_DIR_A_POS]	= { .type = NLA_U32 },
	[NF_CKPT_SEQADJ_DIR_A_BEFORE]	= { .type = NLA_U32 },
	[NF_CKPT_SEQADJ_DIR_A_AFTER]	= { .type = NLA_U32 },
};
EXPORT_SYMBOL_GPL(nf_ckpt_seqadj_dir_policy);

const struct nla_policy nf_ckpt_seqadj_policy[NF_CKPT_SEQADJ_A_MAX + 1] = {
	[NF_CKPT_SEQADJ_A_ORIG]	= NLA_POLICY_NESTED(nf_ckpt_seqadj_dir_policy),
	[NF_CKPT_SEQADJ_A_REPLY] = NLA_POLICY_NESTED(nf_ckpt_seqadj_dir_policy),
};
EXPORT_SYMBOL_GPL(nf_ckpt_seqadj_policy);

const struct nla_policy nf_ckpt_exp_policy[NF_CKPT_EXP_A_MAX + 1] = {
	[NF_CKPT_EXP_A_TUPLE]		= NLA_POLICY_NESTED(nf_ckpt_tuple_policy),
	[NF_CKPT_EXP_A_MASK]		= NLA_POLICY_NESTED(nf_ckpt_tuple_policy),
	[NF_CKPT_EXP_A_CLASS]		= { .type = NLA_U32 },
	[NF_CKPT_EXP_A_FLAGS]		= { .type = NLA_U32 },
	[NF_CKPT_EXP_A_HELPER]		= { .type = NLA_NUL_STRING, .len = 15 },
	[NF_CKPT_EXP_A_FN]		= { .type = NLA_NUL_STRING, .len = 31 },
	[NF_CKPT_EXP_A_TIMEOUT_MS]	= { .type = NLA_U64 },
	[NF_CKPT_EXP_A_DIR]		= NLA_POLICY_MAX(NLA_U8, 1),
	[NF_CKPT_EXP_A_SAVED_ADDR]	= NF_CKPT_POLICY_ADDR,
	[NF_CKPT_EXP_A_SAVED_PORT]	= { .type = NLA_BE16 },
};
EXPORT_SYMBOL_GPL(nf_ckpt_exp_policy);

const struct nla_policy nf_ckpt_expect_policy[NF_CKPT_EXPECT_A_MAX + 1] = {
	[NF_CKPT_EXPECT_A_ITEM]		= NLA_POLICY_NESTED(nf_ckpt_exp_policy),
};
EXPORT_SYMBOL_GPL(nf_ckpt_expect_policy);

struct nf_ckpt_layer_policy {
	const struct nla_policy *policy;
	int maxtype;
};

static const struct nf_ckpt_layer_policy nf_ckpt_layer_policies[] = {
	[NF_CKPT_LAYER_BASE]	= { nf_ckpt_base_policy, NF_CKPT_BASE_A_MAX },
	[NF_CKPT_LAYER_L4]	= { nf_ckpt_l4_policy, NF_CKPT_L4_A_MAX },
	[NF_CKPT_LAYER_HELPER]	= { nf_ckpt_helper_policy, NF_CKPT_HELPER_A_MAX },
	[NF_CKPT_LAYER_SEQADJ]	= { nf_ckpt_seqadj_policy, NF_CKPT_SEQADJ_A_MAX },
	[NF_CKPT_LAYER_EXPECT]	= { nf_ckpt_expect_policy, NF_CKPT_EXPECT_A_MAX },
};

int nf_ckpt_validate_payload(u16 layer, const struct nlattr *payload, u32 len,
			     struct netlink_ext_ack *extack)
{
	const struct nf_ckpt_layer_policy *lp;

	if (layer < NF_CKPT_LAYER_BASE || layer > NF_CKPT_LAYER_MAX) {
		NL_SET_ERR_MSG_MOD(extack, "unknown layer");
		return -EINVAL;
	}
	if (len > NF_CKPT_MAX_PAYLOAD) {
		NL_SET_ERR_MSG_MOD(extack, "payload larger than NF_CKPT_MAX_PAYLOAD");
		return -EINVAL;
	}
	lp = &nf_ckpt_layer_policies[layer];
	return nla_validate(payload, len, lp->maxtype, lp->policy, extack);
}
EXPORT_SYMBOL_GPL(nf_ckpt_validate_payload);
