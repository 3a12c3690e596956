// SPDX-License-Identifier: GPL-2.0
/*
 * nf_ckpt_store slots: one fixed-size object per connection ID, holding
 * its BASE and L4 layers packed, so that the common connection costs one
 * allocation and no per-record header.
 *
 * Packing is exact or not at all: a payload is decoded into the packed
 * fields, written back as attributes (in the order nf_ckpt_ct writes
 * them), and packed only if that gives back the same bytes.  Anything
 * else (a second NAT mapping, a master, user labels, attributes in
 * another order, another family in a smaller slot) stays a record in
 * the slot's tail, as every other layer does.  Readers (GET, dumps,
 * events, save, restore) get the same attributes either way.
 */

#include <linux/in6.h>
#include <linux/netfilter.h>
#include <linux/slab.h>

#include "store.h"



static struct kmem_cache *nf_ckpt_slot_cache[2] __read_mostly;


static unsigned int nf_ckpt_slot_alen(bool v6)
{
	return v6 ? NF_CKPT_ADDR6 : NF_CKPT_ADDR4;
}

static u8 *nf_ckpt_img_addr(struct nf_ckpt_img *img, unsigned int i)
{
	return img->addr + i * NF_CKPT_ADDR6;
}

/* Write back ------------------------------------------------------------ */

static int nf_ckpt_unpack_tuple(struct nf_ckpt_msg *m, struct nf_ckpt_img *img,
				int type, bool reply)
{
	const struct nf_ckpt_pbase *b = &img->base;
	unsigned int alen = nf_ckpt_addr_len(b->family);
	const u8 *src = nf_ckpt_img_addr(img, NF_CKPT_ADDR_SRC);
	const u8 *dst = nf_ckpt_img_addr(img, NF_CKPT_ADDR_DST);
	const u8 *nat = nf_ckpt_img_addr(img, NF_CKPT_ADDR_NAT);
	__be16 sport = b->sport, dport = b->dport;
	struct nlattr *nest;

	if (reply) {
		/* The inverse of the original, the NAT mapping applied. */
		swap(src, dst);
		swap(sport, dport);
		if (b->flags & NF_CKPT_PB_DNAT) {
			src = nat;
			sport = b->nat_port;
		}
		if (b->flags & NF_CKPT_PB_SNAT) {
			dst = nat;
			dport = b->nat_port;
		}
	}
	nest = nf_ckpt_nest_start(m, type);
	if (!nest || nf_ckpt_put(m, NF_CKPT_TUPLE_A_SRC, alen, src) ||
	    nf_ckpt_put(m, NF_CKPT_TUPLE_A_DST, alen, dst))
		return -EMSGSIZE;
	if (nf_ckpt_proto_has_ports(b->proto)) {
		if (nf_ckpt_put_be16(m, NF_CKPT_TUPLE_A_SPORT, sport) ||
		    nf_ckpt_put_be16(m, NF_CKPT_TUPLE_A_DPORT, dport))
			return -EMSGSIZE;
	} else if (nf_ckpt_proto_is_icmp(b->proto)) {
		/* ICMP: sport and dport are the original and reply ids. */
		if (nf_ckpt_put_be16(m, NF_CKPT_TUPLE_A_ICMP_ID,
				     reply ? b->dport : b->sport) ||
		    nf_ckpt_put_u8(m, NF_CKPT_TUPLE_A_ICMP_TYPE,
				   b->itype[reply]) ||
		    nf_ckpt_put_u8(m, NF_CKPT_TUPLE_A_ICMP_CODE,
				   b->icode[reply]))
			return -EMSGSIZE;
	}
	nf_ckpt_nest_end(m, nest);
	return 0;
}

static int nf_ckpt_unpack_nat(struct nf_ckpt_msg *m, struct nf_ckpt_img *img,
			      int type)
{
	unsigned int alen = nf_ckpt_addr_len(img->base.family);
	struct nlattr *nest = nf_ckpt_nest_start(m, type);

	if (!nest ||
	    nf_ckpt_put(m, NF_CKPT_NAT_A_ADDR, alen,
			nf_ckpt_img_addr(img, NF_CKPT_ADDR_NAT)) ||
	    nf_ckpt_put_be16(m, NF_CKPT_NAT_A_PORT, img->base.nat_port))
		return -EMSGSIZE;
	nf_ckpt_nest_end(m, nest);
	return 0;
}

static int nf_ckpt_unpack_base(struct nf_ckpt_msg *m, struct nf_ckpt_img *img)
{
	static const u8 zero_labels[16];
	const struct nf_ckpt_pbase *b = &img->base;

	if (nf_ckpt_put_u8(m, NF_CKPT_BASE_A_FAMILY, b->family) ||
	    nf_ckpt_put_u8(m, NF_CKPT_BASE_A_PROTO, b->proto) ||
	    nf_ckpt_put_u16(m, NF_CKPT_BASE_A_ZONE, b->zone) ||
	    nf_ckpt_put_u8(m, NF_CKPT_BASE_A_ZONE_DIR, b->zone_dir) ||
	    nf_ckpt_unpack_tuple(m, img, NF_CKPT_BASE_A_TUPLE_ORIG, false) ||
	    nf_ckpt_unpack_tuple(m, img, NF_CKPT_BASE_A_TUPLE_REPLY, true) ||
	    nf_ckpt_put_u32(m, NF_CKPT_BASE_A_STATUS, b->status) ||
	    nf_ckpt_put_u32(m, NF_CKPT_BASE_A_MARK, b->mark))
		return -EMSGSIZE;
	if ((b->flags & NF_CKPT_PB_LABELS) &&
	    nf_ckpt_put(m, NF_CKPT_BASE_A_LABELS, sizeof(zero_labels),
			zero_labels))
		return -EMSGSIZE;
	if (nf_ckpt_put_u64(m, NF_CKPT_BASE_A_TIMEOUT_MS, b->timeout_ms))
		return -EMSGSIZE;
	if ((b->flags & NF_CKPT_PB_SNAT) &&
	    nf_ckpt_unpack_nat(m, img, NF_CKPT_BASE_A_NAT_SRC))
		return -EMSGSIZE;
	if ((b->flags & NF_CKPT_PB_DNAT) &&
	    nf_ckpt_unpack_nat(m, img, NF_CKPT_BASE_A_NAT_DST))
		return -EMSGSIZE;
	return 0;
}

static int nf_ckpt_unpack_tcp_dir(struct nf_ckpt_msg *m,
				  const union nf_ckpt_pl4 *l4, int d)
{
	struct nlattr *nest = nf_ckpt_nest_start(m, d ? NF_CKPT_TCP_A_REPLY :
							NF_CKPT_TCP_A_ORIG);

	if (!nest ||
	    nf_ckpt_put_u32(m, NF_CKPT_TCPW_A_END, l4->tcp.end[d]) ||
	    nf_ckpt_put_u32(m, NF_CKPT_TCPW_A_MAXEND, l4->tcp.maxend[d]) ||
	    nf_ckpt_put_u32(m, NF_CKPT_TCPW_A_MAXWIN, l4->tcp.maxwin[d]) ||
	    nf_ckpt_put_u32(m, NF_CKPT_TCPW_A_MAXACK, l4->tcp.maxack[d]) ||
	    nf_ckpt_put_u8(m, NF_CKPT_TCPW_A_WSCALE, l4->tcp.wscale[d]) ||
	    nf_ckpt_put_u8(m, NF_CKPT_TCPW_A_FLAGS, l4->tcp.flags[d]))
		return -EMSGSIZE;
	nf_ckpt_nest_end(m, nest);
	return 0;
}

static int nf_ckpt_unpack_tcp(struct nf_ckpt_msg *m,
			      const union nf_ckpt_pl4 *l4)
{
	if (nf_ckpt_put_u8(m, NF_CKPT_TCP_A_STATE, l4->tcp.state) ||
	    nf_ckpt_unpack_tcp_dir(m, l4, 0) ||
	    nf_ckpt_unpack_tcp_dir(m, l4, 1) ||
	    nf_ckpt_put_u8(m, NF_CKPT_TCP_A_LAST_DIR, l4->tcp.last_dir) ||
	    nf_ckpt_put_u8(m, NF_CKPT_TCP_A_RETRANS, l4->tcp.retrans) ||
	    nf_ckpt_put_u8(m, NF_CKPT_TCP_A_LAST_INDEX, l4->tcp.last_index) ||
	    nf_ckpt_put_u32(m, NF_CKPT_TCP_A_LAST_SEQ, l4->tcp.last_seq) ||
	    nf_ckpt_put_u32(m, NF_CKPT_TCP_A_LAST_ACK, l4->tcp.last_ack) ||
	    nf_ckpt_put_u32(m, NF_CKPT_TCP_A_LAST_END, l4->tcp.last_end) ||
	    nf_ckpt_put_u16(m, NF_CKPT_TCP_A_LAST_WIN, l4->tcp.last_win) ||
	    nf_ckpt_put_u8(m, NF_CKPT_TCP_A_LAST_WSCALE, l4->tcp.last_wscale) ||
	    nf_ckpt_put_u8(m, NF_CKPT_TCP_A_LAST_FLAGS, l4->tcp.last_flags))
		return -EMSGSIZE;
	return 0;
}

static int nf_ckpt_unpack_sctp(struct nf_ckpt_msg *m,
			       const union nf_ckpt_pl4 *l4)
{
	if (nf_ckpt_put_u8(m, NF_CKPT_SCTP_A_STATE, l4->sctp.state) ||
	    nf_ckpt_put_be32(m, NF_CKPT_SCTP_A_VTAG_ORIG, l4->sctp.vtag[0]) ||
	    nf_ckpt_put_be32(m, NF_CKPT_SCTP_A_VTAG_REPLY, l4->sctp.vtag[1]) ||
	    nf_ckpt_put_u8(m, NF_CKPT_SCTP_A_INIT_ORIG, l4->sctp.init[0]) ||
	    nf_ckpt_put_u8(m, NF_CKPT_SCTP_A_INIT_REPLY, l4->sctp.init[1]) ||
	    nf_ckpt_put_u8(m, NF_CKPT_SCTP_A_LAST_DIR, l4->sctp.last_dir) ||
	    nf_ckpt_put_u8(m, NF_CKPT_SCTP_A_FLAGS, l4->sctp.flags))
		return -EMSGSIZE;
	return 0;
}

static int nf_ckpt_unpack_l4(struct nf_ckpt_msg *m, struct nf_ckpt_img *img)
{
	u8 kind = img->l4kind & ~NF_CKPT_PL4_UDP_STREAM;
	struct nlattr *nest = nf_ckpt_nest_start(m, kind);
	int err = 0;

	if (!nest)
		return -EMSGSIZE;
	switch (kind) {
	case NF_CKPT_L4_A_TCP:
		err = nf_ckpt_unpack_tcp(m, &img->l4);
		break;
	case NF_CKPT_L4_A_SCTP:
		err = nf_ckpt_unpack_sctp(m, &img->l4);
		break;
	case NF_CKPT_L4_A_UDP:
		if (img->l4kind & NF_CKPT_PL4_UDP_STREAM)
			err = nf_ckpt_put_flag(m, NF_CKPT_UDP_A_STREAM);
		break;
	default:
		return -EINVAL;
	}
	if (err)
		return err;
	nf_ckpt_nest_end(m, nest);
	return 0;
}

static int nf_ckpt_img_unpack(struct nf_ckpt_img *img, unsigned int pidx,
			      u8 *buf, u32 cap)
{
	struct nf_ckpt_msg m;
	int err;

	nf_ckpt_msg_init(&m, buf, cap);
	if (pidx == NF_CKPT_PACKED_BASE)
		err = nf_ckpt_unpack_base(&m, img);
	else
		err = nf_ckpt_unpack_l4(&m, img);
	return err ?: m.len;
}

/* Decode ---------------------------------------------------------------- */

/* The data of an attribute of exactly size bytes, else NULL. */
static const void *nf_ckpt_attr(const struct nlattr *nla, int size)
{
	return nla && nla_len(nla) == size ? nla_data(nla) : NULL;
}

#define nf_ckpt_get(dst, nla) ({					\
	const void *__p = nf_ckpt_attr(nla, sizeof(dst));		\
	if (__p)							\
		memcpy(&(dst), __p, sizeof(dst));			\
	__p != NULL;							\
})

static bool nf_ckpt_pack_tuple(struct nf_ckpt_img *img, const struct nlattr *nla,
			       bool reply)
{
	struct nf_ckpt_pbase *b = &img->base;
	unsigned int alen = nf_ckpt_addr_len(b->family);
	struct nlattr *tb[NF_CKPT_TUPLE_A_MAX + 1];
	const void *src, *dst;

	if (!nla || nla_parse_nested_deprecated(tb, NF_CKPT_TUPLE_A_MAX, nla,
						NULL, NULL))
		return false;
	src = nf_ckpt_attr(tb[NF_CKPT_TUPLE_A_SRC], alen);
	dst = nf_ckpt_attr(tb[NF_CKPT_TUPLE_A_DST], alen);
	if (!src || !dst)
		return false;
	if (reply) {
		/* Only where a NAT mapping can be: checked by write-back. */
		if (b->flags & NF_CKPT_PB_DNAT)
			memcpy(nf_ckpt_img_addr(img, NF_CKPT_ADDR_NAT), src, alen);
		if (b->flags & NF_CKPT_PB_SNAT)
			memcpy(nf_ckpt_img_addr(img, NF_CKPT_ADDR_NAT), dst, alen);
		if (nf_ckpt_proto_is_icmp(b->proto))
			return nf_ckpt_get(b->dport, tb[NF_CKPT_TUPLE_A_ICMP_ID]) &&
			       nf_ckpt_get(b->itype[1], tb[NF_CKPT_TUPLE_A_ICMP_TYPE]) &&
			       nf_ckpt_get(b->icode[1], tb[NF_CKPT_TUPLE_A_ICMP_CODE]);
		return true;
	}
	memcpy(nf_ckpt_img_addr(img, NF_CKPT_ADDR_SRC), src, alen);
	memcpy(nf_ckpt_img_addr(img, NF_CKPT_ADDR_DST), dst, alen);
	if (nf_ckpt_proto_has_ports(b->proto))
		return nf_ckpt_get(b->sport, tb[NF_CKPT_TUPLE_A_SPORT]) &&
		       nf_ckpt_get(b->dport, tb[NF_CKPT_TUPLE_A_DPORT]);
	if (nf_ckpt_proto_is_icmp(b->proto))
		return nf_ckpt_get(b->sport, tb[NF_CKPT_TUPLE_A_ICMP_ID]) &&
		       nf_ckpt_get(b->itype[0], tb[NF_CKPT_TUPLE_A_ICMP_TYPE]) &&
		       nf_ckpt_get(b->icode[0], tb[NF_CKPT_TUPLE_A_ICMP_CODE]);
	return true;
}

static bool nf_ckpt_pack_nat(struct nf_ckpt_img *img, const struct nlattr *nla)
{
	struct nlattr *tb[NF_CKPT_NAT_A_MAX + 1];

	/* The address comes from the reply tuple; write-back checks it. */
	return !nla_parse_nested_deprecated(tb, NF_CKPT_NAT_A_MAX, nla, NULL,
					    NULL) &&
	       nf_ckpt_get(img->base.nat_port, tb[NF_CKPT_NAT_A_PORT]);
}

static bool nf_ckpt_pack_base(struct nf_ckpt_img *img,
			      const struct nlattr *payload, u32 len)
{
	struct nlattr *tb[NF_CKPT_BASE_A_MAX + 1];
	struct nf_ckpt_pbase *b = &img->base;
	const u8 *labels;
	u64 timeout;

	if (nla_parse_deprecated(tb, NF_CKPT_BASE_A_MAX, payload, len, NULL,
				 NULL) ||
	    !nf_ckpt_get(b->family, tb[NF_CKPT_BASE_A_FAMILY]) ||
	    !nf_ckpt_get(b->proto, tb[NF_CKPT_BASE_A_PROTO]) ||
	    !nf_ckpt_get(b->zone, tb[NF_CKPT_BASE_A_ZONE]) ||
	    !nf_ckpt_get(b->zone_dir, tb[NF_CKPT_BASE_A_ZONE_DIR]) ||
	    !nf_ckpt_get(b->status, tb[NF_CKPT_BASE_A_STATUS]) ||
	    !nf_ckpt_get(b->mark, tb[NF_CKPT_BASE_A_MARK]) ||
	    !nf_ckpt_get(timeout, tb[NF_CKPT_BASE_A_TIMEOUT_MS]) ||
	    timeout > U32_MAX || tb[NF_CKPT_BASE_A_MASTER_ID])
		return false;
	if (b->family != NFPROTO_IPV4 && b->family != NFPROTO_IPV6)
		return false;
	b->timeout_ms = timeout;
	if (tb[NF_CKPT_BASE_A_LABELS]) {
		labels = nf_ckpt_attr(tb[NF_CKPT_BASE_A_LABELS], 16);
		if (!labels || memchr_inv(labels, 0, 16))
			return false;
		b->flags |= NF_CKPT_PB_LABELS;
	}
	if (tb[NF_CKPT_BASE_A_NAT_SRC] && tb[NF_CKPT_BASE_A_NAT_DST])
		return false;	/* two mappings: a record */
	if (tb[NF_CKPT_BASE_A_NAT_SRC]) {
		b->flags |= NF_CKPT_PB_SNAT;
		if (!nf_ckpt_pack_nat(img, tb[NF_CKPT_BASE_A_NAT_SRC]))
			return false;
	}
	if (tb[NF_CKPT_BASE_A_NAT_DST]) {
		b->flags |= NF_CKPT_PB_DNAT;
		if (!nf_ckpt_pack_nat(img, tb[NF_CKPT_BASE_A_NAT_DST]))
			return false;
	}
	return nf_ckpt_pack_tuple(img, tb[NF_CKPT_BASE_A_TUPLE_ORIG], false) &&
	       nf_ckpt_pack_tuple(img, tb[NF_CKPT_BASE_A_TUPLE_REPLY], true);
}

static bool nf_ckpt_pack_tcp_dir(union nf_ckpt_pl4 *l4,
				 const struct nlattr *nla, int d)
{
	struct nlattr *tb[NF_CKPT_TCPW_A_MAX + 1];

	return nla &&
	       !nla_parse_nested_deprecated(tb, NF_CKPT_TCPW_A_MAX, nla, NULL,
					    NULL) &&
	       nf_ckpt_get(l4->tcp.end[d], tb[NF_CKPT_TCPW_A_END]) &&
	       nf_ckpt_get(l4->tcp.maxend[d], tb[NF_CKPT_TCPW_A_MAXEND]) &&
	       nf_ckpt_get(l4->tcp.maxwin[d], tb[NF_CKPT_TCPW_A_MAXWIN]) &&
	       nf_ckpt_get(l4->tcp.maxack[d], tb[NF_CKPT_TCPW_A_MAXACK]) &&
	       nf_ckpt_get(l4->tcp.wscale[d], tb[NF_CKPT_TCPW_A_WSCALE]) &&
	       nf_ckpt_get(l4->tcp.flags[d], tb[NF_CKPT_TCPW_A_FLAGS]);
}

static bool nf_ckpt_pack_tcp(union nf_ckpt_pl4 *l4, const struct nlattr *nla)
{
	struct nlattr *tb[NF_CKPT_TCP_A_MAX + 1];

	return !nla_parse_nested_deprecated(tb, NF_CKPT_TCP_A_MAX, nla, NULL,
					    NULL) &&
	       nf_ckpt_get(l4->tcp.state, tb[NF_CKPT_TCP_A_STATE]) &&
	       nf_ckpt_pack_tcp_dir(l4, tb[NF_CKPT_TCP_A_ORIG], 0) &&
	       nf_ckpt_pack_tcp_dir(l4, tb[NF_CKPT_TCP_A_REPLY], 1) &&
	       nf_ckpt_get(l4->tcp.last_dir, tb[NF_CKPT_TCP_A_LAST_DIR]) &&
	       nf_ckpt_get(l4->tcp.retrans, tb[NF_CKPT_TCP_A_RETRANS]) &&
	       nf_ckpt_get(l4->tcp.last_index, tb[NF_CKPT_TCP_A_LAST_INDEX]) &&
	       nf_ckpt_get(l4->tcp.last_seq, tb[NF_CKPT_TCP_A_LAST_SEQ]) &&
	       nf_ckpt_get(l4->tcp.last_ack, tb[NF_CKPT_TCP_A_LAST_ACK]) &&
	       nf_ckpt_get(l4->tcp.last_end, tb[NF_CKPT_TCP_A_LAST_END]) &&
	       nf_ckpt_get(l4->tcp.last_win, tb[NF_CKPT_TCP_A_LAST_WIN]) &&
	       nf_ckpt_get(l4->tcp.last_wscale, tb[NF_CKPT_TCP_A_LAST_WSCALE]) &&
	       nf_ckpt_get(l4->tcp.last_flags, tb[NF_CKPT_TCP_A_LAST_FLAGS]);
}

static bool nf_ckpt_pack_sctp(union nf_ckpt_pl4 *l4, const struct nlattr *nla)
{
	struct nlattr *tb[NF_CKPT_SCTP_A_MAX + 1];

	return !nla_parse_nested_deprecated(tb, NF_CKPT_SCTP_A_MAX, nla, NULL,
					    NULL) &&
	       nf_ckpt_get(l4->sctp.state, tb[NF_CKPT_SCTP_A_STATE]) &&
	       nf_ckpt_get(l4->sctp.vtag[0], tb[NF_CKPT_SCTP_A_VTAG_ORIG]) &&
	       nf_ckpt_get(l4->sctp.vtag[1], tb[NF_CKPT_SCTP_A_VTAG_REPLY]) &&
	       nf_ckpt_get(l4->sctp.init[0], tb[NF_CKPT_SCTP_A_INIT_ORIG]) &&
	       nf_ckpt_get(l4->sctp.init[1], tb[NF_CKPT_SCTP_A_INIT_REPLY]) &&
	       nf_ckpt_get(l4->sctp.last_dir, tb[NF_CKPT_SCTP_A_LAST_DIR]) &&
	       nf_ckpt_get(l4->sctp.flags, tb[NF_CKPT_SCTP_A_FLAGS]);
}

static bool nf_ckpt_pack_l4(struct nf_ckpt_img *img,
			    const struct nlattr *payload, u32 len)
{
	const struct nlattr *nla = payload;
	struct nlattr *tb[NF_CKPT_UDP_A_MAX + 1];

	/* Exactly one nest; write-back checks there is nothing else. */
	if (!nla_ok(nla, len))
		return false;
	img->l4kind = nla_type(nla);
	switch (img->l4kind) {
	case NF_CKPT_L4_A_TCP:
		return nf_ckpt_pack_tcp(&img->l4, nla);
	case NF_CKPT_L4_A_SCTP:
		return nf_ckpt_pack_sctp(&img->l4, nla);
	case NF_CKPT_L4_A_UDP:
		if (nla_parse_nested_deprecated(tb, NF_CKPT_UDP_A_MAX, nla,
						NULL, NULL))
			return false;
		if (tb[NF_CKPT_UDP_A_STREAM])
			img->l4kind |= NF_CKPT_PL4_UDP_STREAM;
		return true;
	}
	return false;
}

/* Decode pidx's payload into img and check it writes back the same. */
static bool nf_ckpt_img_pack(struct nf_ckpt_img *img, unsigned int pidx,
			     const struct nlattr *payload, u32 len)
{
	u8 buf[NF_CKPT_PACKED_MAX];
	bool ok;

	if (len > sizeof(buf))
		return false;
	memset(img, 0, sizeof(*img));
	ok = pidx == NF_CKPT_PACKED_BASE ? nf_ckpt_pack_base(img, payload, len) :
					   nf_ckpt_pack_l4(img, payload, len);
	return ok && nf_ckpt_img_unpack(img, pidx, buf, sizeof(buf)) == len &&
	       !memcmp(buf, payload, len);
}

bool nf_ckpt_slot_check(unsigned int pidx, const struct nlattr *payload,
			u32 len, struct nf_ckpt_img *img)
{
	return nf_ckpt_img_pack(img, pidx, payload, len);
}

bool nf_ckpt_slot_needs_v6(u16 layer, const struct nlattr *payload, u32 len)
{
	const struct nlattr *fam;

	if (layer != NF_CKPT_LAYER_BASE)
		return false;
	fam = nla_find(payload, len, NF_CKPT_BASE_A_FAMILY);
	return fam && nla_len(fam) == sizeof(u8) &&
	       nla_get_u8(fam) == NFPROTO_IPV6;
}

static void nf_ckpt_slot_copy_out(const struct nf_ckpt_slot *c,
				  unsigned int pidx, struct nf_ckpt_img *img)
{
	unsigned int alen = nf_ckpt_slot_alen(c->v6), i;

	if (pidx == NF_CKPT_PACKED_BASE) {
		img->base = c->base;
		for (i = 0; i < NF_CKPT_NADDR; i++)
			memcpy(nf_ckpt_img_addr(img, i), c->addr + i * alen,
			       alen);
	} else {
		img->l4 = c->l4;
		img->l4kind = c->l4kind;
	}
}

void nf_ckpt_slot_pack(struct nf_ckpt_slot *c, unsigned int pidx,
		       const struct nf_ckpt_img *img)
{
	unsigned int alen = nf_ckpt_slot_alen(c->v6), i;

	if (pidx == NF_CKPT_PACKED_BASE) {
		c->base = img->base;
		for (i = 0; i < NF_CKPT_NADDR; i++)
			memcpy(c->addr + i * alen,
			       img->addr + i * NF_CKPT_ADDR6, alen);
	} else {
		c->l4 = img->l4;
		c->l4kind = img->l4kind;
	}
}

bool nf_ckpt_slot_view(const struct nf_ckpt_slot *c, unsigned int idx,
		       u64 now, struct nf_ckpt_rec_view *v, u8 *buf, u32 cap)
{
	const struct nf_ckpt_tail *t;
	struct nf_ckpt_rec *r = NULL;
	u32 updated = 0, expires = 0;
	struct nf_ckpt_img img;
	bool packed = false;
	unsigned int seq;
	int len;

	do {
		seq = read_seqcount_begin(&c->seq);
		packed = idx < NF_CKPT_NPACKED && (c->packed & BIT(idx));
		if (packed) {
			updated = c->updated[idx];
			expires = c->expires[idx];
			nf_ckpt_slot_copy_out(c, idx, &img);
		} else {
			t = rcu_dereference(c->tail);
			r = t ? rcu_dereference(t->rec[idx]) : NULL;
		}
	} while (read_seqcount_retry(&c->seq, seq));

	if (!packed) {
		if (!r || nf_ckpt_rec_expired(r, now))
			return false;
		nf_ckpt_rec_view(r, c->id, now, v);
		return true;
	}
	if (!time_before32((u32)now, expires))
		return false;
	len = nf_ckpt_img_unpack(&img, idx, buf, cap);
	if (WARN_ON_ONCE(len < 0))
		return false;
	v->id = c->id;
	v->layer = idx + 1;
	v->len = len;
	v->payload = (const struct nlattr *)buf;
	v->age_ms = time_after32((u32)now, updated) ?
		    jiffies64_to_msecs((u32)now - updated) : 0;
	/* Up to INT_MAX jiffies: more milliseconds than a u32 holds. */
	v->expires_ms = max_t(u64, jiffies64_to_msecs(expires - (u32)now), 1);
	return true;
}

bool nf_ckpt_slot_live_rcu(const struct nf_ckpt_slot *c, unsigned int idx,
			   u64 now)
{
	const struct nf_ckpt_tail *t;
	struct nf_ckpt_rec *r;

	if (idx < NF_CKPT_NPACKED && (READ_ONCE(c->packed) & BIT(idx)))
		return time_before32((u32)now, READ_ONCE(c->expires[idx]));
	t = rcu_dereference(c->tail);
	r = t ? rcu_dereference(t->rec[idx]) : NULL;
	return r && !nf_ckpt_rec_expired(r, now);
}

bool nf_ckpt_slot_expired_rcu(const struct nf_ckpt_slot *c, unsigned int idx,
			      u64 now)
{
	const struct nf_ckpt_tail *t;
	struct nf_ckpt_rec *r;

	if (idx < NF_CKPT_NPACKED && (READ_ONCE(c->packed) & BIT(idx)))
		return !time_before32((u32)now, READ_ONCE(c->expires[idx]));
	t = rcu_dereference(c->tail);
	r = t ? rcu_dereference(t->rec[idx]) : NULL;
	return r && nf_ckpt_rec_expired(r, now);
}

static long nf_ckpt_slot_cost_v6(bool v6, unsigned int pidx)
{
	long size = kmem_cache_size(nf_ckpt_slot_cache[v6]);

	/* L4 is charged its fields, BASE the rest of the slot. */
	return pidx == NF_CKPT_PACKED_L4 ? sizeof(union nf_ckpt_pl4) :
		size - (long)sizeof(union nf_ckpt_pl4);
}

long nf_ckpt_slot_cost(const struct nf_ckpt_slot *c, unsigned int pidx)
{
	return nf_ckpt_slot_cost_v6(c->v6, pidx);
}

long nf_ckpt_slot_cost_for(u16 layer, const struct nlattr *payload, u32 len,
			   const struct nf_ckpt_slot *c)
{
	if (c)
		return nf_ckpt_slot_cost(c, layer - 1);
	return nf_ckpt_slot_cost_v6(nf_ckpt_slot_needs_v6(layer, payload, len),
				    layer - 1);
}

struct nf_ckpt_slot *nf_ckpt_slot_alloc(u16 layer, const struct nlattr *payload,
					u32 len, gfp_t gfp)
{
	bool v6 = nf_ckpt_slot_needs_v6(layer, payload, len);
	struct nf_ckpt_slot *c;

	c = kmem_cache_zalloc(nf_ckpt_slot_cache[v6], gfp | __GFP_NOWARN);
	if (!c)
		return NULL;
	c->v6 = v6;
	seqcount_init(&c->seq);
	return c;
}

void nf_ckpt_slot_free(struct nf_ckpt_slot *c)
{
	kmem_cache_free(nf_ckpt_slot_cache[c->v6], c);
}

static void nf_ckpt_slot_free_cb(struct rcu_head *head)
{
	nf_ckpt_slot_free(container_of(head, struct nf_ckpt_slot, rcu));
}

void nf_ckpt_slot_free_rcu(struct nf_ckpt_slot *c)
{
	call_rcu(&c->rcu, nf_ckpt_slot_free_cb);
}

int nf_ckpt_slot_init(void)
{
	size_t base = sizeof(struct nf_ckpt_slot);

	nf_ckpt_slot_cache[0] = kmem_cache_create("nf_ckpt_slot4",
				base + NF_CKPT_NADDR * NF_CKPT_ADDR4,
				__alignof__(struct nf_ckpt_slot), 0, NULL);
	if (!nf_ckpt_slot_cache[0])
		return -ENOMEM;
	nf_ckpt_slot_cache[1] = kmem_cache_create("nf_ckpt_slot6",
				base + NF_CKPT_NADDR * NF_CKPT_ADDR6,
				__alignof__(struct nf_ckpt_slot), 0, NULL);
	if (!nf_ckpt_slot_cache[1]) {
		kmem_cache_destroy(nf_ckpt_slot_cache[0]);
		return -ENOMEM;
	}
	return 0;
}

void nf_ckpt_slot_exit(void)
{
	kmem_cache_destroy(nf_ckpt_slot_cache[1]);
	kmem_cache_destroy(nf_ckpt_slot_cache[0]);
}
