/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR MIT) */
/*
 * nf_ckpt: checkpoints of netfilter connection tracking state.
 *
 * The generic-netlink family "nf_ckpt" is owned by nf_ckpt_store.ko.  Every
 * record it holds is keyed by (network namespace, connection ID, layer) and
 * carries a payload.  The payload is a stream of netlink attributes of the
 * layer's own attribute space (NF_CKPT_BASE_A_*, NF_CKPT_L4_A_*, ...).  The
 * same bytes are sent on the wire, kept in the store and written to save
 * files, so this header is the only definition of the format.
 *
 * This file is append-only: never renumber, never change a type.
 *
 * Commands (all need CAP_NET_ADMIN over the caller's network namespace):
 *
 *   NF_CKPT_CMD_STATUS   do    -> NF_CKPT_A_STATUS
 *   NF_CKPT_CMD_GET      do    NF_CKPT_A_ID -> one message, NF_CKPT_A_RECORD
 *                              repeated: every record of the ID
 *                        dump  [NF_CKPT_A_ID] -> every record, ID order,
 *                              base layer first within an ID
 *   NF_CKPT_CMD_FORGET   do    NF_CKPT_A_ID [NF_CKPT_A_LAYER]
 *   NF_CKPT_CMD_FLUSH    do    -
 *   NF_CKPT_CMD_LOAD     do    [NF_CKPT_A_FLAGS] NF_CKPT_A_RECORD...
 *   NF_CKPT_CMD_RESTORE  do    [NF_CKPT_A_FLAGS] -> NF_CKPT_A_RESTORE
 *   NF_CKPT_CMD_PUT      event on the "events" group: NF_CKPT_A_RECORD
 *   NF_CKPT_CMD_DEL      event on the "events" group: NF_CKPT_A_ID
 *                              [NF_CKPT_A_LAYER] (no layer: the whole ID)
 *
 * Attribute tree:
 *
 *   NF_CKPT_A_ID                      u64   connection ID
 *   NF_CKPT_A_LAYER                   u16   enum nf_ckpt_layer
 *   NF_CKPT_A_FLAGS                   u32   per-command NF_CKPT_*_F_* bits
 *   NF_CKPT_A_RECORD                  nest
 *     NF_CKPT_REC_A_ID                u64
 *     NF_CKPT_REC_A_LAYER             u16
 *     NF_CKPT_REC_A_AGE_MS            u64   time since last put/update
 *     NF_CKPT_REC_A_EXPIRES_MS        u64   left until the store reaps it;
 *                                           0 or absent: never
 *     NF_CKPT_REC_A_PAYLOAD           nest  the layer's attributes:
 *       layer BASE:
 *         NF_CKPT_BASE_A_FAMILY       u8    NFPROTO_IPV4 / NFPROTO_IPV6
 *         NF_CKPT_BASE_A_PROTO        u8    IPPROTO_*
 *         NF_CKPT_BASE_A_ZONE         u16
 *         NF_CKPT_BASE_A_ZONE_DIR     u8    NF_CT_ZONE_DIR_* bits
 *         NF_CKPT_BASE_A_TUPLE_ORIG   nest
 *         NF_CKPT_BASE_A_TUPLE_REPLY  nest
 *           NF_CKPT_TUPLE_A_SRC       binary 4 or 16 bytes
 *           NF_CKPT_TUPLE_A_DST       binary 4 or 16 bytes
 *           NF_CKPT_TUPLE_A_SPORT     be16  TCP/UDP/SCTP/DCCP/UDPLITE
 *           NF_CKPT_TUPLE_A_DPORT     be16
 *           NF_CKPT_TUPLE_A_ICMP_ID   be16  ICMP/ICMPv6
 *           NF_CKPT_TUPLE_A_ICMP_TYPE u8
 *           NF_CKPT_TUPLE_A_ICMP_CODE u8
 *         NF_CKPT_BASE_A_STATUS       u32   IPS_* bits
 *         NF_CKPT_BASE_A_MARK         u32
 *         NF_CKPT_BASE_A_LABELS       binary 16 bytes (ID bits zeroed)
 *         NF_CKPT_BASE_A_TIMEOUT_MS   u64   conntrack timeout left when
 *                                           the record was written
 *         NF_CKPT_BASE_A_NAT_SRC      nest  present if IPS_SRC_NAT
 *         NF_CKPT_BASE_A_NAT_DST      nest  present if IPS_DST_NAT
 *           NF_CKPT_NAT_A_ADDR        binary 4 or 16 bytes, mapped address
 *           NF_CKPT_NAT_A_PORT        be16  mapped port (or ICMP id)
 *         NF_CKPT_BASE_A_MASTER_ID    u64   ID of the master (RELATED)
 *       layer L4:
 *         NF_CKPT_L4_A_TCP            nest
 *           NF_CKPT_TCP_A_STATE       u8    enum tcp_conntrack
 *           NF_CKPT_TCP_A_ORIG        nest  window tracking, original dir
 *           NF_CKPT_TCP_A_REPLY       nest  window tracking, reply dir
 *             NF_CKPT_TCPW_A_END      u32
 *             NF_CKPT_TCPW_A_MAXEND   u32
 *             NF_CKPT_TCPW_A_MAXWIN   u32
 *             NF_CKPT_TCPW_A_MAXACK   u32
 *             NF_CKPT_TCPW_A_WSCALE   u8
 *             NF_CKPT_TCPW_A_FLAGS    u8    IP_CT_TCP_FLAG_*
 *           NF_CKPT_TCP_A_LAST_DIR    u8
 *           NF_CKPT_TCP_A_RETRANS     u8
 *           NF_CKPT_TCP_A_LAST_INDEX  u8
 *           NF_CKPT_TCP_A_LAST_SEQ    u32
 *           NF_CKPT_TCP_A_LAST_ACK    u32
 *           NF_CKPT_TCP_A_LAST_END    u32
 *           NF_CKPT_TCP_A_LAST_WIN    u16
 *           NF_CKPT_TCP_A_LAST_WSCALE u8
 *           NF_CKPT_TCP_A_LAST_FLAGS  u8
 *         NF_CKPT_L4_A_SCTP           nest
 *           NF_CKPT_SCTP_A_STATE      u8    enum sctp_conntrack
 *           NF_CKPT_SCTP_A_VTAG_ORIG  be32
 *           NF_CKPT_SCTP_A_VTAG_REPLY be32
 *           NF_CKPT_SCTP_A_INIT_ORIG  u8
 *           NF_CKPT_SCTP_A_INIT_REPLY u8
 *           NF_CKPT_SCTP_A_LAST_DIR   u8
 *           NF_CKPT_SCTP_A_FLAGS      u8
 *         NF_CKPT_L4_A_UDP            nest
 *           NF_CKPT_UDP_A_STREAM      flag  seen traffic in both directions
 *                                           long enough to be a stream
 *       layer HELPER:
 *         NF_CKPT_HELPER_A_NAME       string (NF_CT_HELPER_NAME_LEN)
 *         NF_CKPT_HELPER_A_DATA       binary the helper's private area
 *                                           (kernel layout, checked by size)
 *       layer SEQADJ:
 *         NF_CKPT_SEQADJ_A_ORIG       nest
 *         NF_CKPT_SEQADJ_A_REPLY      nest
 *           NF_CKPT_SEQADJ_DIR_A_POS     u32  correction_pos
 *           NF_CKPT_SEQADJ_DIR_A_BEFORE  u32  offset_before (s32 bits)
 *           NF_CKPT_SEQADJ_DIR_A_AFTER   u32  offset_after (s32 bits)
 *       layer EXPECT:
 *         NF_CKPT_EXPECT_A_ITEM       nest, repeated, one per expectation
 *           NF_CKPT_EXP_A_TUPLE       nest  NF_CKPT_TUPLE_A_*
 *           NF_CKPT_EXP_A_MASK        nest  NF_CKPT_TUPLE_A_*
 *           NF_CKPT_EXP_A_CLASS       u32
 *           NF_CKPT_EXP_A_FLAGS       u32   NF_CT_EXPECT_* bits
 *           NF_CKPT_EXP_A_HELPER      string the master's helper (exp->helper);
 *                                           a restore refuses any other
 *           NF_CKPT_EXP_A_FN          string expectfn name
 *           NF_CKPT_EXP_A_TIMEOUT_MS  u64
 *           NF_CKPT_EXP_A_DIR         u8    NAT direction
 *           NF_CKPT_EXP_A_SAVED_ADDR  binary 4 or 16 bytes
 *           NF_CKPT_EXP_A_SAVED_PORT  be16
 *           NF_CKPT_EXP_A_PROTO       u8    L4 protocol of the expected
 *                                           connection (absent: the master's)
 *           NF_CKPT_EXP_A_ASSIGN_HELPER string helper the expected connection
 *                                           gets (exp->assign_helper: H.323,
 *                                           SIP REGISTER)
 *   NF_CKPT_A_STATUS                  nest
 *     NF_CKPT_STAT_A_INSTANCE         u64   random, chosen at store load
 *     NF_CKPT_STAT_A_HIGHEST_ID       u64   highest ID stored or handed out
 *                                           (this netns: IDs are per netns)
 *                                           (IDs above 2^63 - 1 not counted)
 *     NF_CKPT_STAT_A_CONNECTIONS      u64   distinct IDs (this netns)
 *     NF_CKPT_STAT_A_RECORDS          u64   (this netns)
 *     NF_CKPT_STAT_A_BYTES            u64   (this netns)
 *     NF_CKPT_STAT_A_LIMIT_BYTES      u64   (all netns together)
 *     NF_CKPT_STAT_A_LIMIT_RECORDS    u64   (all netns together)
 *     NF_CKPT_STAT_A_PUTS ... _REFUSED u64  (this netns)
 *     NF_CKPT_STAT_A_RESTORER         flag  nf_ckpt_ct is loaded
 *     NF_CKPT_STAT_A_LAYER            nest, repeated, one per layer in use
 *       NF_CKPT_LSTAT_A_LAYER         u16
 *       NF_CKPT_LSTAT_A_RECORDS       u64
 *       NF_CKPT_LSTAT_A_BYTES         u64
 *     NF_CKPT_STAT_A_NETNS_LIMIT_BYTES   u64  this netns's share; present
 *     NF_CKPT_STAT_A_NETNS_LIMIT_RECORDS u64  only for a netns owned by a
 *                                             user namespace not the initial
 *                                             one, and a share set
 *   NF_CKPT_A_RESTORE                 nest
 *     NF_CKPT_RES_A_RESTORED          u32   conntracks created
 *     NF_CKPT_RES_A_EXISTING          u32   already present, re-bound
 *     NF_CKPT_RES_A_FAILED            u32   sum of the reasons below
 *     NF_CKPT_RES_A_EXPECTS           u32   expectations created
 *     NF_CKPT_RES_A_FAIL_NOMEM        u32
 *     NF_CKPT_RES_A_FAIL_NOSPC        u32   conntrack table full
 *     NF_CKPT_RES_A_FAIL_HELPER       u32   helper not loaded / bad data
 *     NF_CKPT_RES_A_FAIL_NAT          u32   binding taken or differs
 *     NF_CKPT_RES_A_FAIL_INVAL        u32   record malformed
 *     NF_CKPT_RES_A_FAIL_OTHER        u32
 *     NF_CKPT_RES_A_FAIL_EXPECT       u32   expectations not created
 */
#ifndef _UAPI_LINUX_NF_CKPT_H
#define _UAPI_LINUX_NF_CKPT_H

#include <linux/types.h>

#define NF_CKPT_GENL_NAME	"nf_ckpt"
#define NF_CKPT_GENL_VERSION	1
#define NF_CKPT_MCGRP_EVENTS	"events"

/*
 * The firewall module keeps a connection's ID in ct labels bits 64..127
 * (label words 2 and 3).  Rulesets must use only bits 0..63.
 */
#define NF_CKPT_LABEL_ID_BIT	64

enum nf_ckpt_cmd {
	NF_CKPT_CMD_UNSPEC,
	NF_CKPT_CMD_STATUS,
	NF_CKPT_CMD_GET,
	NF_CKPT_CMD_FORGET,
	NF_CKPT_CMD_FLUSH,
	NF_CKPT_CMD_LOAD,
	NF_CKPT_CMD_RESTORE,
	NF_CKPT_CMD_PUT,
	NF_CKPT_CMD_DEL,

	__NF_CKPT_CMD_MAX
};
#define NF_CKPT_CMD_MAX (__NF_CKPT_CMD_MAX - 1)

enum nf_ckpt_layer {
	NF_CKPT_LAYER_UNSPEC,
	NF_CKPT_LAYER_BASE,
	NF_CKPT_LAYER_L4,
	NF_CKPT_LAYER_HELPER,
	NF_CKPT_LAYER_SEQADJ,
	NF_CKPT_LAYER_EXPECT,

	__NF_CKPT_LAYER_MAX
};
#define NF_CKPT_LAYER_MAX (__NF_CKPT_LAYER_MAX - 1)

/* NF_CKPT_CMD_LOAD: refuse the whole message if any record already exists */
#define NF_CKPT_LOAD_F_EXCL		(1U << 0)
#define NF_CKPT_LOAD_F_MASK		NF_CKPT_LOAD_F_EXCL

/* NF_CKPT_CMD_RESTORE: report what would be done, create nothing */
#define NF_CKPT_RESTORE_F_DRY_RUN	(1U << 0)
#define NF_CKPT_RESTORE_F_MASK		NF_CKPT_RESTORE_F_DRY_RUN

enum nf_ckpt_attrs {
	NF_CKPT_A_UNSPEC,
	NF_CKPT_A_PAD,
	NF_CKPT_A_ID,
	NF_CKPT_A_LAYER,
	NF_CKPT_A_FLAGS,
	NF_CKPT_A_RECORD,
	NF_CKPT_A_STATUS,
	NF_CKPT_A_RESTORE,

	__NF_CKPT_A_MAX
};
#define NF_CKPT_A_MAX (__NF_CKPT_A_MAX - 1)

enum nf_ckpt_rec_attrs {
	NF_CKPT_REC_A_UNSPEC,
	NF_CKPT_REC_A_PAD,
	NF_CKPT_REC_A_ID,
	NF_CKPT_REC_A_LAYER,
	NF_CKPT_REC_A_AGE_MS,
	NF_CKPT_REC_A_EXPIRES_MS,
	NF_CKPT_REC_A_PAYLOAD,

	__NF_CKPT_REC_A_MAX
};
#define NF_CKPT_REC_A_MAX (__NF_CKPT_REC_A_MAX - 1)

enum nf_ckpt_base_attrs {
	NF_CKPT_BASE_A_UNSPEC,
	NF_CKPT_BASE_A_PAD,
	NF_CKPT_BASE_A_FAMILY,
	NF_CKPT_BASE_A_PROTO,
	NF_CKPT_BASE_A_ZONE,
	NF_CKPT_BASE_A_ZONE_DIR,
	NF_CKPT_BASE_A_TUPLE_ORIG,
	NF_CKPT_BASE_A_TUPLE_REPLY,
	NF_CKPT_BASE_A_STATUS,
	NF_CKPT_BASE_A_MARK,
	NF_CKPT_BASE_A_LABELS,
	NF_CKPT_BASE_A_TIMEOUT_MS,
	NF_CKPT_BASE_A_NAT_SRC,
	NF_CKPT_BASE_A_NAT_DST,
	NF_CKPT_BASE_A_MASTER_ID,

	__NF_CKPT_BASE_A_MAX
};
#define NF_CKPT_BASE_A_MAX (__NF_CKPT_BASE_A_MAX - 1)

enum nf_ckpt_tuple_attrs {
	NF_CKPT_TUPLE_A_UNSPEC,
	NF_CKPT_TUPLE_A_SRC,
	NF_CKPT_TUPLE_A_DST,
	NF_CKPT_TUPLE_A_SPORT,
	NF_CKPT_TUPLE_A_DPORT,
	NF_CKPT_TUPLE_A_ICMP_ID,
	NF_CKPT_TUPLE_A_ICMP_TYPE,
	NF_CKPT_TUPLE_A_ICMP_CODE,

	__NF_CKPT_TUPLE_A_MAX
};
#define NF_CKPT_TUPLE_A_MAX (__NF_CKPT_TUPLE_A_MAX - 1)

enum nf_ckpt_nat_attrs {
	NF_CKPT_NAT_A_UNSPEC,
	NF_CKPT_NAT_A_ADDR,
	NF_CKPT_NAT_A_PORT,

	__NF_CKPT_NAT_A_MAX
};
#define NF_CKPT_NAT_A_MAX (__NF_CKPT_NAT_A_MAX - 1)

enum nf_ckpt_l4_attrs {
	NF_CKPT_L4_A_UNSPEC,
	NF_CKPT_L4_A_TCP,
	NF_CKPT_L4_A_SCTP,
	NF_CKPT_L4_A_UDP,

	__NF_CKPT_L4_A_MAX
};
#define NF_CKPT_L4_A_MAX (__NF_CKPT_L4_A_MAX - 1)

enum nf_ckpt_tcp_attrs {
	NF_CKPT_TCP_A_UNSPEC,
	NF_CKPT_TCP_A_STATE,
	NF_CKPT_TCP_A_ORIG,
	NF_CKPT_TCP_A_REPLY,
	NF_CKPT_TCP_A_LAST_DIR,
	NF_CKPT_TCP_A_RETRANS,
	NF_CKPT_TCP_A_LAST_INDEX,
	NF_CKPT_TCP_A_LAST_SEQ,
	NF_CKPT_TCP_A_LAST_ACK,
	NF_CKPT_TCP_A_LAST_END,
	NF_CKPT_TCP_A_LAST_WIN,
	NF_CKPT_TCP_A_LAST_WSCALE,
	NF_CKPT_TCP_A_LAST_FLAGS,

	__NF_CKPT_TCP_A_MAX
};
#define NF_CKPT_TCP_A_MAX (__NF_CKPT_TCP_A_MAX - 1)

enum nf_ckpt_tcpw_attrs {
	NF_CKPT_TCPW_A_UNSPEC,
	NF_CKPT_TCPW_A_END,
	NF_CKPT_TCPW_A_MAXEND,
	NF_CKPT_TCPW_A_MAXWIN,
	NF_CKPT_TCPW_A_MAXACK,
	NF_CKPT_TCPW_A_WSCALE,
	NF_CKPT_TCPW_A_FLAGS,

	__NF_CKPT_TCPW_A_MAX
};
#define NF_CKPT_TCPW_A_MAX (__NF_CKPT_TCPW_A_MAX - 1)

enum nf_ckpt_sctp_attrs {
	NF_CKPT_SCTP_A_UNSPEC,
	NF_CKPT_SCTP_A_STATE,
	NF_CKPT_SCTP_A_VTAG_ORIG,
	NF_CKPT_SCTP_A_VTAG_REPLY,
	NF_CKPT_SCTP_A_INIT_ORIG,
	NF_CKPT_SCTP_A_INIT_REPLY,
	NF_CKPT_SCTP_A_LAST_DIR,
	NF_CKPT_SCTP_A_FLAGS,

	__NF_CKPT_SCTP_A_MAX
};
#define NF_CKPT_SCTP_A_MAX (__NF_CKPT_SCTP_A_MAX - 1)

enum nf_ckpt_udp_attrs {
	NF_CKPT_UDP_A_UNSPEC,
	NF_CKPT_UDP_A_STREAM,

	__NF_CKPT_UDP_A_MAX
};
#define NF_CKPT_UDP_A_MAX (__NF_CKPT_UDP_A_MAX - 1)

enum nf_ckpt_helper_attrs {
	NF_CKPT_HELPER_A_UNSPEC,
	NF_CKPT_HELPER_A_NAME,
	NF_CKPT_HELPER_A_DATA,

	__NF_CKPT_HELPER_A_MAX
};
#define NF_CKPT_HELPER_A_MAX (__NF_CKPT_HELPER_A_MAX - 1)

enum nf_ckpt_seqadj_attrs {
	NF_CKPT_SEQADJ_A_UNSPEC,
	NF_CKPT_SEQADJ_A_ORIG,
	NF_CKPT_SEQADJ_A_REPLY,

	__NF_CKPT_SEQADJ_A_MAX
};
#define NF_CKPT_SEQADJ_A_MAX (__NF_CKPT_SEQADJ_A_MAX - 1)

enum nf_ckpt_seqadj_dir_attrs {
	NF_CKPT_SEQADJ_DIR_A_UNSPEC,
	NF_CKPT_SEQADJ_DIR_A_POS,
	NF_CKPT_SEQADJ_DIR_A_BEFORE,
	NF_CKPT_SEQADJ_DIR_A_AFTER,

	__NF_CKPT_SEQADJ_DIR_A_MAX
};
#define NF_CKPT_SEQADJ_DIR_A_MAX (__NF_CKPT_SEQADJ_DIR_A_MAX - 1)

enum nf_ckpt_expect_attrs {
	NF_CKPT_EXPECT_A_UNSPEC,
	NF_CKPT_EXPECT_A_ITEM,

	__NF_CKPT_EXPECT_A_MAX
};
#define NF_CKPT_EXPECT_A_MAX (__NF_CKPT_EXPECT_A_MAX - 1)

enum nf_ckpt_exp_attrs {
	NF_CKPT_EXP_A_UNSPEC,
	NF_CKPT_EXP_A_PAD,
	NF_CKPT_EXP_A_TUPLE,
	NF_CKPT_EXP_A_MASK,
	NF_CKPT_EXP_A_CLASS,
	NF_CKPT_EXP_A_FLAGS,
	NF_CKPT_EXP_A_HELPER,
	NF_CKPT_EXP_A_FN,
	NF_CKPT_EXP_A_TIMEOUT_MS,
	NF_CKPT_EXP_A_DIR,
	NF_CKPT_EXP_A_SAVED_ADDR,
	NF_CKPT_EXP_A_SAVED_PORT,
	NF_CKPT_EXP_A_PROTO,
	NF_CKPT_EXP_A_ASSIGN_HELPER,

	__NF_CKPT_EXP_A_MAX
};
#define NF_CKPT_EXP_A_MAX (__NF_CKPT_EXP_A_MAX - 1)

enum nf_ckpt_stat_attrs {
	NF_CKPT_STAT_A_UNSPEC,
	NF_CKPT_STAT_A_PAD,
	NF_CKPT_STAT_A_INSTANCE,
	NF_CKPT_STAT_A_HIGHEST_ID,
	NF_CKPT_STAT_A_CONNECTIONS,
	NF_CKPT_STAT_A_RECORDS,
	NF_CKPT_STAT_A_BYTES,
	NF_CKPT_STAT_A_LIMIT_BYTES,
	NF_CKPT_STAT_A_LIMIT_RECORDS,
	NF_CKPT_STAT_A_PUTS,
	NF_CKPT_STAT_A_UPDATES,
	NF_CKPT_STAT_A_DELETES,
	NF_CKPT_STAT_A_EXPIRED,
	NF_CKPT_STAT_A_REFUSED,
	NF_CKPT_STAT_A_RESTORER,
	NF_CKPT_STAT_A_LAYER,
	NF_CKPT_STAT_A_NETNS_LIMIT_BYTES,
	NF_CKPT_STAT_A_NETNS_LIMIT_RECORDS,

	__NF_CKPT_STAT_A_MAX
};
#define NF_CKPT_STAT_A_MAX (__NF_CKPT_STAT_A_MAX - 1)

enum nf_ckpt_lstat_attrs {
	NF_CKPT_LSTAT_A_UNSPEC,
	NF_CKPT_LSTAT_A_PAD,
	NF_CKPT_LSTAT_A_LAYER,
	NF_CKPT_LSTAT_A_RECORDS,
	NF_CKPT_LSTAT_A_BYTES,

	__NF_CKPT_LSTAT_A_MAX
};
#define NF_CKPT_LSTAT_A_MAX (__NF_CKPT_LSTAT_A_MAX - 1)

enum nf_ckpt_res_attrs {
	NF_CKPT_RES_A_UNSPEC,
	NF_CKPT_RES_A_RESTORED,
	NF_CKPT_RES_A_EXISTING,
	NF_CKPT_RES_A_FAILED,
	NF_CKPT_RES_A_EXPECTS,
	NF_CKPT_RES_A_FAIL_NOMEM,
	NF_CKPT_RES_A_FAIL_NOSPC,
	NF_CKPT_RES_A_FAIL_HELPER,
	NF_CKPT_RES_A_FAIL_NAT,
	NF_CKPT_RES_A_FAIL_INVAL,
	NF_CKPT_RES_A_FAIL_OTHER,
	NF_CKPT_RES_A_FAIL_EXPECT,

	__NF_CKPT_RES_A_MAX
};
#define NF_CKPT_RES_A_MAX (__NF_CKPT_RES_A_MAX - 1)

/*
 * Save file (ckptctl save/load), all integers little endian:
 *
 *   struct nf_ckpt_file_hdr
 *   records: NF_CKPT_A_RECORD attributes (struct nlattr + payload, 4-byte
 *            aligned, native netlink layout), back to back, hdr.bytes long
 *
 * crc32 is the IEEE CRC-32 (as zlib's crc32()) of the record bytes.
 */
#define NF_CKPT_FILE_MAGIC	"NFCKPT\r\n"
#define NF_CKPT_FILE_VERSION	1

struct nf_ckpt_file_hdr {
	char	magic[8];
	__u32	version;
	__u32	hdr_len;	/* sizeof(struct nf_ckpt_file_hdr) */
	__u64	instance;	/* store instance that wrote the file */
	__u64	records;
	__u64	bytes;
	__u64	highest_id;
	__u32	crc32;
	__u32	reserved;	/* must be 0 */
};

#endif /* _UAPI_LINUX_NF_CKPT_H */
