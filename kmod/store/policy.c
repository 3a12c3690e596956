// SPDX-License-Identifier: GPL-2.0
/*
 * Attribute policies of the record payloads, one per layer, and the
 * validation every payload goes through before it is stored.  The
 * policies are strict about shape (types, exact lengths, nesting) and
 * bound the values that the firewall module uses as array indexes or
 * shift counts; everything else is for nf_ckpt_ct to judge.
 */

#include <linux/module.h>
#include <linux/nospec.h>
#include <net/netlink.h>
#include <uapi/linux/netfilter.h>
#include <uapi/linux/netfilter/nf_conntrack_common.h>
#include <uapi/linux/netfilter/nf_conntrack_sctp.h>
#include <uapi/linux/netfilter/nf_conntrack_tcp.h>
#include <net/nf_ckpt_store.h>

#include "store.h"

static int nf_ckpt_validate_addr(const struct nlattr *attr,
				 struct netlink_ext_ack *extack)
{
	if (nla_len(attr) != 4 && nla_len(attr) != 16) {
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "address must be 4 or 16 bytes");
		return -EINVAL;
	}
	return 0;
}

/*
 * A function, not a range, for "4 or 16": safe on NLA_BINARY only.  On
 * integer types netlink_ack() would read the function pointer as a range
 * when it dumps the policy of a bad attribute back (a WARN on 6.12).
 */
#define NF_CKPT_POLICY_ADDR \
	NLA_POLICY_VALIDATE_FN(NLA_BINARY, nf_ckpt_validate_addr, 16)

/* Padding of 64-bit attributes on architectures that want it. */
#define NF_CKPT_POLICY_PAD	{ .type = NLA_BINARY }

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
	[NF_CKPT_BASE_A_PAD]		= NF_CKPT_POLICY_PAD,
	/* Narrowed to the two values by nf_ckpt_check_family(). */
	[NF_CKPT_BASE_A_FAMILY]		= NLA_POLICY_RANGE(NLA_U8, NFPROTO_IPV4,
							   NFPROTO_IPV6),
	[NF_CKPT_BASE_A_PROTO]		= { .type = NLA_U8 },
	[NF_CKPT_BASE_A_ZONE]		= { .type = NLA_U16 },
	[NF_CKPT_BASE_A_ZONE_DIR]	=
		NLA_POLICY_MASK(NLA_U8, (1 << IP_CT_DIR_ORIGINAL) |
					(1 << IP_CT_DIR_REPLY)),
	[NF_CKPT_BASE_A_TUPLE_ORIG]	= NLA_POLICY_NESTED(nf_ckpt_tuple_policy),
	[NF_CKPT_BASE_A_TUPLE_REPLY]	= NLA_POLICY_NESTED(nf_ckpt_tuple_policy),
	[NF_CKPT_BASE_A_STATUS]		= { .type = NLA_U32 },
	[NF_CKPT_BASE_A_MARK]		= { .type = NLA_U32 },
	[NF_CKPT_BASE_A_LABELS]		= NLA_POLICY_EXACT_LEN(16),
	[NF_CKPT_BASE_A_TIMEOUT_MS]	= { .type = NLA_U64 },
	[NF_CKPT_BASE_A_NAT_SRC]	= NLA_POLICY_NESTED(nf_ckpt_nat_policy),
	[NF_CKPT_BASE_A_NAT_DST]	= NLA_POLICY_NESTED(nf_ckpt_nat_policy),
	[NF_CKPT_BASE_A_MASTER_ID]	= NLA_POLICY_MIN(NLA_U64, 1),
};
EXPORT_SYMBOL_GPL(nf_ckpt_base_policy);

const struct nla_policy nf_ckpt_tcpw_policy[NF_CKPT_TCPW_A_MAX + 1] = {
	[NF_CKPT_TCPW_A_END]		= { .type = NLA_U32 },
	[NF_CKPT_TCPW_A_MAXEND]		= { .type = NLA_U32 },
	[NF_CKPT_TCPW_A_MAXWIN]		= { .type = NLA_U32 },
	[NF_CKPT_TCPW_A_MAXACK]		= { .type = NLA_U32 },
	[NF_CKPT_TCPW_A_WSCALE]		= NLA_POLICY_MAX(NLA_U8,
							 NF_CKPT_WSCALE_MAX),
	[NF_CKPT_TCPW_A_FLAGS]		= { .type = NLA_U8 },
};
EXPORT_SYMBOL_GPL(nf_ckpt_tcpw_policy);

const struct nla_policy nf_ckpt_tcp_policy[NF_CKPT_TCP_A_MAX + 1] = {
	[NF_CKPT_TCP_A_STATE]		= NLA_POLICY_MAX(NLA_U8,
							 TCP_CONNTRACK_MAX - 1),
	[NF_CKPT_TCP_A_ORIG]		= NLA_POLICY_NESTED(nf_ckpt_tcpw_policy),
	[NF_CKPT_TCP_A_REPLY]		= NLA_POLICY_NESTED(nf_ckpt_tcpw_policy),
	[NF_CKPT_TCP_A_LAST_DIR]	= NLA_POLICY_MAX(NLA_U8, IP_CT_DIR_REPLY),
	[NF_CKPT_TCP_A_RETRANS]		= { .type = NLA_U8 },
	[NF_CKPT_TCP_A_LAST_INDEX]	= NLA_POLICY_MAX(NLA_U8,
							 NF_CKPT_TCP_INDEX_MAX),
	[NF_CKPT_TCP_A_LAST_SEQ]	= { .type = NLA_U32 },
	[NF_CKPT_TCP_A_LAST_ACK]	= { .type = NLA_U32 },
	[NF_CKPT_TCP_A_LAST_END]	= { .type = NLA_U32 },
	[NF_CKPT_TCP_A_LAST_WIN]	= { .type = NLA_U16 },
	[NF_CKPT_TCP_A_LAST_WSCALE]	= NLA_POLICY_MAX(NLA_U8,
							 NF_CKPT_WSCALE_MAX),
	[NF_CKPT_TCP_A_LAST_FLAGS]	= { .type = NLA_U8 },
};
EXPORT_SYMBOL_GPL(nf_ckpt_tcp_policy);

const struct nla_policy nf_ckpt_sctp_policy[NF_CKPT_SCTP_A_MAX + 1] = {
	[NF_CKPT_SCTP_A_STATE]		= NLA_POLICY_MAX(NLA_U8,
							 SCTP_CONNTRACK_MAX - 1),
	[NF_CKPT_SCTP_A_VTAG_ORIG]	= { .type = NLA_BE32 },
	[NF_CKPT_SCTP_A_VTAG_REPLY]	= { .type = NLA_BE32 },
	[NF_CKPT_SCTP_A_INIT_ORIG]	= { .type = NLA_U8 },
	[NF_CKPT_SCTP_A_INIT_REPLY]	= { .type = NLA_U8 },
	[NF_CKPT_SCTP_A_LAST_DIR]	= NLA_POLICY_MAX(NLA_U8, IP_CT_DIR_REPLY),
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
	[NF_CKPT_HELPER_A_NAME]		= { .type = NLA_NUL_STRING,
					    .len = NF_CKPT_HELPER_NAME_LEN - 1 },
	[NF_CKPT_HELPER_A_DATA]		= { .type = NLA_BINARY,
					    .len = NF_CKPT_HELPER_DATA_MAX },
};
EXPORT_SYMBOL_GPL(nf_ckpt_helper_policy);

const struct nla_policy
nf_ckpt_seqadj_dir_policy[NF_CKPT_SEQADJ_DIR_A_MAX + 1] = {
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
	[NF_CKPT_EXP_A_PAD]		= NF_CKPT_POLICY_PAD,
	[NF_CKPT_EXP_A_TUPLE]		= NLA_POLICY_NESTED(nf_ckpt_tuple_policy),
	[NF_CKPT_EXP_A_MASK]		= NLA_POLICY_NESTED(nf_ckpt_tuple_policy),
	[NF_CKPT_EXP_A_CLASS]		= NLA_POLICY_MAX(NLA_U32,
						NF_CKPT_EXPECT_CLASSES - 1),
	[NF_CKPT_EXP_A_FLAGS]		= NLA_POLICY_MASK(NLA_U32,
							  NF_CT_EXPECT_MASK),
	[NF_CKPT_EXP_A_HELPER]		= { .type = NLA_NUL_STRING,
					    .len = NF_CKPT_HELPER_NAME_LEN - 1 },
	[NF_CKPT_EXP_A_FN]		= { .type = NLA_NUL_STRING,
					    .len = NF_CKPT_EXPECTFN_NAME_LEN - 1 },
	[NF_CKPT_EXP_A_TIMEOUT_MS]	= { .type = NLA_U64 },
	[NF_CKPT_EXP_A_DIR]		= NLA_POLICY_MAX(NLA_U8, IP_CT_DIR_REPLY),
	[NF_CKPT_EXP_A_SAVED_ADDR]	= NF_CKPT_POLICY_ADDR,
	[NF_CKPT_EXP_A_SAVED_PORT]	= { .type = NLA_BE16 },
	[NF_CKPT_EXP_A_PROTO]		= { .type = NLA_U8 },
	[NF_CKPT_EXP_A_ASSIGN_HELPER]	= { .type = NLA_NUL_STRING,
					    .len = NF_CKPT_HELPER_NAME_LEN - 1 },
};
EXPORT_SYMBOL_GPL(nf_ckpt_exp_policy);

const struct nla_policy nf_ckpt_expect_policy[NF_CKPT_EXPECT_A_MAX + 1] = {
	[NF_CKPT_EXPECT_A_ITEM]		= NLA_POLICY_NESTED(nf_ckpt_exp_policy),
};
EXPORT_SYMBOL_GPL(nf_ckpt_expect_policy);

static const struct {
	const struct nla_policy	*policy;
	unsigned int		maxtype;
} nf_ckpt_layers[NF_CKPT_NLAYERS] = {
	[NF_CKPT_LAYER_BASE - 1]	= { nf_ckpt_base_policy,
					    NF_CKPT_BASE_A_MAX },
	[NF_CKPT_LAYER_L4 - 1]		= { nf_ckpt_l4_policy,
					    NF_CKPT_L4_A_MAX },
	[NF_CKPT_LAYER_HELPER - 1]	= { nf_ckpt_helper_policy,
					    NF_CKPT_HELPER_A_MAX },
	[NF_CKPT_LAYER_SEQADJ - 1]	= { nf_ckpt_seqadj_policy,
					    NF_CKPT_SEQADJ_A_MAX },
	[NF_CKPT_LAYER_EXPECT - 1]	= { nf_ckpt_expect_policy,
					    NF_CKPT_EXPECT_A_MAX },
};

static int nf_ckpt_check_family(const struct nlattr *payload, u32 len,
				struct netlink_ext_ack *extack)
{
	const struct nlattr *attr;
	u8 family;

	attr = nla_find(payload, len, NF_CKPT_BASE_A_FAMILY);
	if (!attr)
		return 0;
	family = nla_get_u8(attr);
	if (family != NFPROTO_IPV4 && family != NFPROTO_IPV6) {
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "family must be NFPROTO_IPV4 or NFPROTO_IPV6");
		return -EINVAL;
	}
	return 0;
}

int nf_ckpt_validate_payload(u16 layer, const struct nlattr *payload, u32 len,
			     struct netlink_ext_ack *extack)
{
	unsigned int i;

	if (layer < 1 || layer > NF_CKPT_LAYER_MAX) {
		NL_SET_ERR_MSG(extack, "unknown layer");
		return -EINVAL;
	}
	if (len > NF_CKPT_MAX_PAYLOAD) {
		NL_SET_ERR_MSG(extack, "payload larger than NF_CKPT_MAX_PAYLOAD");
		return -EINVAL;
	}
	if (len && !payload) {
		NL_SET_ERR_MSG(extack, "payload missing");
		return -EINVAL;
	}
	i = array_index_nospec(layer - 1, NF_CKPT_NLAYERS);
	/* -ERANGE from a range check too: the API promises -EINVAL. */
	if (nla_validate(payload, len, nf_ckpt_layers[i].maxtype,
			 nf_ckpt_layers[i].policy, extack))
		return -EINVAL;
	if (layer == NF_CKPT_LAYER_BASE)
		return nf_ckpt_check_family(payload, len, extack);
	return 0;
}
EXPORT_SYMBOL_GPL(nf_ckpt_validate_payload);
