// SPDX-License-Identifier: GPL-2.0
/*
 * Decoding of record payloads (the attribute tree of uapi nf_ckpt.h) into
 * struct conn, and its output for people (conntrack -L style) and scripts.
 * Every attribute is checked for type and length: ckptctl must not trust
 * what it reads, not even from the kernel, since save files come back in.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter/nf_conntrack_common.h>

#include "ckptctl.h"

#define MAX_TB 32

struct tb {
	const struct nlattr *a[MAX_TB];
	int max;
};

static int tb_cb(const struct nlattr *a, void *data)
{
	struct tb *t = data;
	int type = mnl_attr_get_type(a);

	if (type <= t->max)
		t->a[type] = a;
	return MNL_CB_OK;
}

static bool tb_parse(struct tb *t, const struct nlattr *nest, int max)
{
	memset(t, 0, sizeof(*t));
	t->max = max < MAX_TB ? max : MAX_TB - 1;
	return mnl_attr_parse_nested(nest, tb_cb, t) >= 0;
}

static bool get_u8(const struct nlattr *a, uint8_t *v)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_U8) < 0)
		return false;
	*v = mnl_attr_get_u8(a);
	return true;
}

static bool get_u16(const struct nlattr *a, uint16_t *v)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_U16) < 0)
		return false;
	*v = mnl_attr_get_u16(a);
	return true;
}

static bool get_be16(const struct nlattr *a, uint16_t *v)
{
	if (!get_u16(a, v))
		return false;
	*v = ntohs(*v);
	return true;
}

static bool get_u32(const struct nlattr *a, uint32_t *v)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return false;
	*v = mnl_attr_get_u32(a);
	return true;
}

static bool get_u64(const struct nlattr *a, uint64_t *v)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_U64) < 0)
		return false;
	*v = mnl_attr_get_u64(a);
	return true;
}

static bool get_addr(const struct nlattr *a, uint8_t *addr)
{
	uint16_t len;

	if (!a)
		return false;
	len = mnl_attr_get_payload_len(a);
	if (len != 4 && len != 16)
		return false;
	memset(addr, 0, 16);
	memcpy(addr, mnl_attr_get_payload(a), len);
	return true;
}

static bool get_str(const struct nlattr *a, char *buf, size_t size)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
		return false;
	snprintf(buf, size, "%s", mnl_attr_get_str(a));
	return true;
}

static const char *const layer_names[] = {
	[NF_CKPT_LAYER_BASE]	= "base",
	[NF_CKPT_LAYER_L4]	= "l4",
	[NF_CKPT_LAYER_HELPER]	= "helper",
	[NF_CKPT_LAYER_SEQADJ]	= "seqadj",
	[NF_CKPT_LAYER_EXPECT]	= "expect",
};

const char *layer_name(unsigned int layer)
{
	static char buf[16];

	if (layer <= NF_CKPT_LAYER_MAX && layer_names[layer])
		return layer_names[layer];
	snprintf(buf, sizeof(buf), "%u", layer);
	return buf;
}

int layer_parse(const char *s)
{
	char *end;
	long v;
	int l;

	for (l = NF_CKPT_LAYER_BASE; l <= NF_CKPT_LAYER_MAX; l++)
		if (!strcmp(s, layer_names[l]))
			return l;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (!*end && !errno && v > 0 && v <= 0xffff)
		return v;
	return -1;
}

int parse_id(const char *s, uint64_t *id)
{
	int base = 10;
	char *end;

	/* Decimal, or hex with 0x: no octal, no sign, no blanks. */
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!isxdigit((unsigned char)*s))
			return -1;
	} else if (*s < '0' || *s > '9') {
		return -1;
	}
	errno = 0;
	*id = strtoull(s, &end, base);
	return (!*end && !errno && *id) ? 0 : -1;
}

static bool parse_tuple(const struct nlattr *nest, struct tuple *t)
{
	struct tb tb;

	memset(t, 0, sizeof(*t));
	if (!nest || !tb_parse(&tb, nest, NF_CKPT_TUPLE_A_MAX))
		return false;
	if (!get_addr(tb.a[NF_CKPT_TUPLE_A_SRC], t->src) ||
	    !get_addr(tb.a[NF_CKPT_TUPLE_A_DST], t->dst))
		return false;
	t->ports = get_be16(tb.a[NF_CKPT_TUPLE_A_SPORT], &t->sport) &&
		   get_be16(tb.a[NF_CKPT_TUPLE_A_DPORT], &t->dport);
	t->icmp = get_u8(tb.a[NF_CKPT_TUPLE_A_ICMP_TYPE], &t->icmp_type);
	get_u8(tb.a[NF_CKPT_TUPLE_A_ICMP_CODE], &t->icmp_code);
	get_be16(tb.a[NF_CKPT_TUPLE_A_ICMP_ID], &t->icmp_id);
	return true;
}

static void parse_nat(const struct nlattr *nest, struct nat *n)
{
	struct tb tb;

	memset(n, 0, sizeof(*n));
	if (!nest || !tb_parse(&tb, nest, NF_CKPT_NAT_A_MAX))
		return;
	n->present = get_addr(tb.a[NF_CKPT_NAT_A_ADDR], n->addr);
	get_be16(tb.a[NF_CKPT_NAT_A_PORT], &n->port);
}

static int parse_base(const struct nlattr *pl, struct conn *c)
{
	struct tb tb;

	if (!tb_parse(&tb, pl, NF_CKPT_BASE_A_MAX) ||
	    !get_u8(tb.a[NF_CKPT_BASE_A_FAMILY], &c->family) ||
	    !get_u8(tb.a[NF_CKPT_BASE_A_PROTO], &c->proto) ||
	    !parse_tuple(tb.a[NF_CKPT_BASE_A_TUPLE_ORIG], &c->orig) ||
	    !parse_tuple(tb.a[NF_CKPT_BASE_A_TUPLE_REPLY], &c->reply))
		return -1;
	get_u16(tb.a[NF_CKPT_BASE_A_ZONE], &c->zone);
	get_u8(tb.a[NF_CKPT_BASE_A_ZONE_DIR], &c->zone_dir);
	get_u32(tb.a[NF_CKPT_BASE_A_STATUS], &c->status);
	get_u32(tb.a[NF_CKPT_BASE_A_MARK], &c->mark);
	get_u64(tb.a[NF_CKPT_BASE_A_TIMEOUT_MS], &c->timeout_ms);
	get_u64(tb.a[NF_CKPT_BASE_A_MASTER_ID], &c->master_id);
	if (tb.a[NF_CKPT_BASE_A_LABELS] &&
	    mnl_attr_get_payload_len(tb.a[NF_CKPT_BASE_A_LABELS]) == 16) {
		c->have_labels = true;
		memcpy(c->labels, mnl_attr_get_payload(tb.a[NF_CKPT_BASE_A_LABELS]), 16);
	}
	parse_nat(tb.a[NF_CKPT_BASE_A_NAT_SRC], &c->nat_src);
	parse_nat(tb.a[NF_CKPT_BASE_A_NAT_DST], &c->nat_dst);
	return 0;
}

static void parse_tcp_dir(const struct nlattr *nest, struct tcp_dir *d)
{
	struct tb tb;

	if (!nest || !tb_parse(&tb, nest, NF_CKPT_TCPW_A_MAX))
		return;
	get_u32(tb.a[NF_CKPT_TCPW_A_END], &d->end);
	get_u32(tb.a[NF_CKPT_TCPW_A_MAXEND], &d->maxend);
	get_u32(tb.a[NF_CKPT_TCPW_A_MAXWIN], &d->maxwin);
	get_u32(tb.a[NF_CKPT_TCPW_A_MAXACK], &d->maxack);
	get_u8(tb.a[NF_CKPT_TCPW_A_WSCALE], &d->wscale);
	get_u8(tb.a[NF_CKPT_TCPW_A_FLAGS], &d->flags);
}

static void parse_tcp(const struct nlattr *nest, struct conn *c)
{
	struct tb tb;

	if (!tb_parse(&tb, nest, NF_CKPT_TCP_A_MAX))
		return;
	c->tcp = get_u8(tb.a[NF_CKPT_TCP_A_STATE], &c->l4_state);
	parse_tcp_dir(tb.a[NF_CKPT_TCP_A_ORIG], &c->tcpw[0]);
	parse_tcp_dir(tb.a[NF_CKPT_TCP_A_REPLY], &c->tcpw[1]);
	get_u8(tb.a[NF_CKPT_TCP_A_LAST_DIR], &c->last_dir);
	get_u8(tb.a[NF_CKPT_TCP_A_RETRANS], &c->retrans);
	get_u8(tb.a[NF_CKPT_TCP_A_LAST_INDEX], &c->last_index);
	get_u32(tb.a[NF_CKPT_TCP_A_LAST_SEQ], &c->last_seq);
	get_u32(tb.a[NF_CKPT_TCP_A_LAST_ACK], &c->last_ack);
	get_u32(tb.a[NF_CKPT_TCP_A_LAST_END], &c->last_end);
	get_u16(tb.a[NF_CKPT_TCP_A_LAST_WIN], &c->last_win);
	get_u8(tb.a[NF_CKPT_TCP_A_LAST_WSCALE], &c->last_wscale);
	get_u8(tb.a[NF_CKPT_TCP_A_LAST_FLAGS], &c->last_flags);
}

static void parse_l4(const struct nlattr *pl, struct conn *c)
{
	struct tb tb, sub;
	uint32_t v;

	if (!tb_parse(&tb, pl, NF_CKPT_L4_A_MAX))
		return;
	if (tb.a[NF_CKPT_L4_A_TCP])
		parse_tcp(tb.a[NF_CKPT_L4_A_TCP], c);
	if (tb.a[NF_CKPT_L4_A_SCTP] &&
	    tb_parse(&sub, tb.a[NF_CKPT_L4_A_SCTP], NF_CKPT_SCTP_A_MAX)) {
		c->sctp = get_u8(sub.a[NF_CKPT_SCTP_A_STATE], &c->l4_state);
		if (get_u32(sub.a[NF_CKPT_SCTP_A_VTAG_ORIG], &v))
			c->vtag[0] = ntohl(v);
		if (get_u32(sub.a[NF_CKPT_SCTP_A_VTAG_REPLY], &v))
			c->vtag[1] = ntohl(v);
	}
	if (tb.a[NF_CKPT_L4_A_UDP] &&
	    tb_parse(&sub, tb.a[NF_CKPT_L4_A_UDP], NF_CKPT_UDP_A_MAX)) {
		c->udp = true;
		c->udp_stream = sub.a[NF_CKPT_UDP_A_STREAM] != NULL;
	}
}

static void parse_helper(const struct nlattr *pl, struct conn *c)
{
	struct tb tb;
	uint16_t len;

	if (!tb_parse(&tb, pl, NF_CKPT_HELPER_A_MAX))
		return;
	get_str(tb.a[NF_CKPT_HELPER_A_NAME], c->helper, sizeof(c->helper));
	if (tb.a[NF_CKPT_HELPER_A_DATA]) {
		len = mnl_attr_get_payload_len(tb.a[NF_CKPT_HELPER_A_DATA]);
		if (len > sizeof(c->helper_data))
			len = sizeof(c->helper_data);
		c->helper_len = len;
		memcpy(c->helper_data, mnl_attr_get_payload(tb.a[NF_CKPT_HELPER_A_DATA]), len);
	}
}

static void parse_seqadj(const struct nlattr *pl, struct conn *c)
{
	static const int dirs[2] = { NF_CKPT_SEQADJ_A_ORIG, NF_CKPT_SEQADJ_A_REPLY };
	struct tb tb, sub;
	uint32_t v;
	int d;

	if (!tb_parse(&tb, pl, NF_CKPT_SEQADJ_A_MAX))
		return;
	c->seqadj = true;
	for (d = 0; d < 2; d++) {
		if (!tb.a[dirs[d]] ||
		    !tb_parse(&sub, tb.a[dirs[d]], NF_CKPT_SEQADJ_DIR_A_MAX))
			continue;
		get_u32(sub.a[NF_CKPT_SEQADJ_DIR_A_POS], &c->seq_pos[d]);
		if (get_u32(sub.a[NF_CKPT_SEQADJ_DIR_A_BEFORE], &v))
			c->seq_before[d] = (int32_t)v;
		if (get_u32(sub.a[NF_CKPT_SEQADJ_DIR_A_AFTER], &v))
			c->seq_after[d] = (int32_t)v;
	}
}

static void parse_expect_item(const struct nlattr *nest, struct expect *e)
{
	struct tb tb;

	memset(e, 0, sizeof(*e));
	if (!tb_parse(&tb, nest, NF_CKPT_EXP_A_MAX))
		return;
	parse_tuple(tb.a[NF_CKPT_EXP_A_TUPLE], &e->tuple);
	parse_tuple(tb.a[NF_CKPT_EXP_A_MASK], &e->mask);
	get_u32(tb.a[NF_CKPT_EXP_A_CLASS], &e->class);
	get_u32(tb.a[NF_CKPT_EXP_A_FLAGS], &e->flags);
	get_str(tb.a[NF_CKPT_EXP_A_HELPER], e->helper, sizeof(e->helper));
	get_str(tb.a[NF_CKPT_EXP_A_ASSIGN_HELPER], e->assign_helper,
		sizeof(e->assign_helper));
	get_str(tb.a[NF_CKPT_EXP_A_FN], e->fn, sizeof(e->fn));
	get_u64(tb.a[NF_CKPT_EXP_A_TIMEOUT_MS], &e->timeout_ms);
	get_u8(tb.a[NF_CKPT_EXP_A_DIR], &e->dir);
	e->saved = get_addr(tb.a[NF_CKPT_EXP_A_SAVED_ADDR], e->saved_addr);
	get_be16(tb.a[NF_CKPT_EXP_A_SAVED_PORT], &e->saved_port);
}

static void parse_expect(const struct nlattr *pl, struct conn *c)
{
	const struct nlattr *a;

	c->nexpect = c->expect_total = 0;
	mnl_attr_for_each_nested(a, pl) {
		if (mnl_attr_get_type(a) != NF_CKPT_EXPECT_A_ITEM)
			continue;
		if (c->nexpect < MAX_EXPECT)
			parse_expect_item(a, &c->expect[c->nexpect++]);
		c->expect_total++;
	}
}

/*
 * Merge one NF_CKPT_A_RECORD into c (which must be zeroed, or hold other
 * layers of the same ID).  Returns -1 for a malformed record.
 */
int record_parse(const struct nlattr *rec, struct conn *c, uint64_t *id,
		 uint16_t *layer)
{
	struct layer_meta m = {};
	const struct nlattr *pl;
	struct tb tb;

	if (!tb_parse(&tb, rec, NF_CKPT_REC_A_MAX) ||
	    !get_u64(tb.a[NF_CKPT_REC_A_ID], id) ||
	    !get_u16(tb.a[NF_CKPT_REC_A_LAYER], layer) ||
	    !tb.a[NF_CKPT_REC_A_PAYLOAD])
		return -1;
	pl = tb.a[NF_CKPT_REC_A_PAYLOAD];
	if (mnl_attr_validate(pl, MNL_TYPE_NESTED) < 0)
		return -1;
	get_u64(tb.a[NF_CKPT_REC_A_AGE_MS], &m.age_ms);
	get_u64(tb.a[NF_CKPT_REC_A_EXPIRES_MS], &m.expires_ms);
	m.len = mnl_attr_get_payload_len(pl);
	c->id = *id;
	if (*layer > NF_CKPT_LAYER_MAX || *layer == 0)
		return 0;	/* a layer newer than this ckptctl: keep going */
	c->layers |= 1U << *layer;
	c->meta[*layer] = m;
	switch (*layer) {
	case NF_CKPT_LAYER_BASE:
		if (parse_base(pl, c)) {
			c->layers &= ~(1U << *layer);
			return -1;
		}
		break;
	case NF_CKPT_LAYER_L4:
		parse_l4(pl, c);
		break;
	case NF_CKPT_LAYER_HELPER:
		parse_helper(pl, c);
		break;
	case NF_CKPT_LAYER_SEQADJ:
		parse_seqadj(pl, c);
		break;
	case NF_CKPT_LAYER_EXPECT:
		parse_expect(pl, c);
		break;
	}
	return 0;
}

/* Seconds of conntrack timeout left now, as conntrack -L shows it. */
uint64_t conn_timeout_s(const struct conn *c)
{
	uint64_t t = c->timeout_ms / 1000;
	uint64_t a = c->meta[NF_CKPT_LAYER_BASE].age_ms / 1000;

	return t > a ? t - a : 0;
}

static const char *proto_name(uint8_t proto)
{
	static char buf[8];

	switch (proto) {
	case 1: return "icmp";
	case 6: return "tcp";
	case 17: return "udp";
	case 33: return "dccp";
	case 47: return "gre";
	case 58: return "icmpv6";
	case 132: return "sctp";
	case 136: return "udplite";
	}
	snprintf(buf, sizeof(buf), "%u", proto);
	return buf;
}

static const char *state_name(const struct conn *c)
{
	static const char *const tcp[] = {
		"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
		"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2",
	};
	static const char *const sctp[] = {
		"NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED",
		"SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT",
		"HEARTBEAT_SENT", "HEARTBEAT_ACKED",
	};

	if (c->tcp)
		return c->l4_state < sizeof(tcp) / sizeof(*tcp) ? tcp[c->l4_state] : "UNKNOWN";
	if (c->sctp)
		return c->l4_state < sizeof(sctp) / sizeof(*sctp) ? sctp[c->l4_state] : "UNKNOWN";
	return NULL;
}

static const char *addr_str(uint8_t family, const uint8_t *a, char *buf)
{
	if (!inet_ntop(family == 10 ? AF_INET6 : AF_INET, a, buf, INET6_ADDRSTRLEN))
		strcpy(buf, "?");
	return buf;
}

static void tuple_print(FILE *f, const struct conn *c, const struct tuple *t)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

	fprintf(f, "src=%s dst=%s ", addr_str(c->family, t->src, s),
		addr_str(c->family, t->dst, d));
	if (t->icmp)
		fprintf(f, "type=%u code=%u id=%u ", t->icmp_type, t->icmp_code,
			t->icmp_id);
	else if (t->ports)
		fprintf(f, "sport=%u dport=%u ", t->sport, t->dport);
}

static void layers_print(FILE *f, unsigned int layers)
{
	const char *sep = "";
	unsigned int l;

	fputs("layers=", f);
	for (l = NF_CKPT_LAYER_BASE; l <= NF_CKPT_LAYER_MAX; l++) {
		if (layers & (1U << l)) {
			fprintf(f, "%s%s", sep, layer_name(l));
			sep = ",";
		}
	}
}

/* What a connection without its base record still tells. */
static void conn_print_partial(FILE *f, const struct conn *c, bool note)
{
	const char *state = state_name(c);

	if (note)
		fputs("(no base record) ", f);
	if (c->tcp || c->sctp || c->udp)
		fprintf(f, "%s ", c->tcp ? "tcp" : c->sctp ? "sctp" : "udp");
	if (state)
		fprintf(f, "%s ", state);
	if (c->udp_stream)
		fputs("stream ", f);
	if (c->helper[0])
		fprintf(f, "helper=%s ", c->helper);
	if (c->seqadj)
		fprintf(f, "seqadj=%d/%d ", c->seq_after[0], c->seq_after[1]);
	if (c->layers & (1U << NF_CKPT_LAYER_EXPECT))
		fprintf(f, "expectations=%u ", c->expect_total);
	layers_print(f, c->layers);
	fputc('\n', f);
}

static void conn_print_line(FILE *f, const struct conn *c, bool note)
{
	const char *state = state_name(c);

	if (!(c->layers & (1U << NF_CKPT_LAYER_BASE))) {
		conn_print_partial(f, c, note);
		return;
	}
	fprintf(f, "%-8s %u %" PRIu64 " ", proto_name(c->proto), c->proto,
		conn_timeout_s(c));
	if (state)
		fprintf(f, "%s ", state);
	tuple_print(f, c, &c->orig);
	if (!(c->status & IPS_SEEN_REPLY))
		fputs("[UNREPLIED] ", f);
	tuple_print(f, c, &c->reply);
	if (c->status & IPS_ASSURED)
		fputs("[ASSURED] ", f);
	fprintf(f, "mark=%u zone=%u ", c->mark, c->zone);
	if (c->helper[0])
		fprintf(f, "helper=%s ", c->helper);
	if (c->master_id)
		fprintf(f, "master=0x%016" PRIx64 " ", c->master_id);
	if (c->nexpect)
		fprintf(f, "expectations=%u ", c->expect_total);
	layers_print(f, c->layers);
	fputc('\n', f);
}

/*
 * The conntrack -L part of a line, everything after id=, for records that
 * come alone (monitor): without a base record it is not worth a remark.
 */
void conn_print_summary(FILE *f, const struct conn *c)
{
	conn_print_line(f, c, false);
}

void conn_print(FILE *f, const struct conn *c)
{
	fprintf(f, "id=0x%016" PRIx64 " ", c->id);
	conn_print_line(f, c, true);
}

static void nat_print(FILE *f, const struct conn *c, const char *what,
		      const struct nat *n)
{
	char a[INET6_ADDRSTRLEN];

	if (n->present)
		fprintf(f, "    nat %s: to %s port %u\n", what,
			addr_str(c->family, n->addr, a), n->port);
}

static void meta_print(FILE *f, const struct conn *c, unsigned int l)
{
	fprintf(f, "  %s: %u bytes, age %" PRIu64 " ms, expires ",
		layer_name(l), c->meta[l].len, c->meta[l].age_ms);
	if (c->meta[l].expires_ms)
		fprintf(f, "in %" PRIu64 " ms\n", c->meta[l].expires_ms);
	else
		fputs("never\n", f);
}

void conn_print_detail(FILE *f, const struct conn *c)
{
	char a[INET6_ADDRSTRLEN];
	unsigned int l, i, d;

	conn_print(f, c);
	for (l = NF_CKPT_LAYER_BASE; l <= NF_CKPT_LAYER_MAX; l++) {
		if (!(c->layers & (1U << l)))
			continue;
		meta_print(f, c, l);
		switch (l) {
		case NF_CKPT_LAYER_BASE:
			fprintf(f, "    status=0x%x timeout=%" PRIu64 " ms\n",
				c->status, c->timeout_ms);
			nat_print(f, c, "src", &c->nat_src);
			nat_print(f, c, "dst", &c->nat_dst);
			break;
		case NF_CKPT_LAYER_L4:
			for (d = 0; c->tcp && d < 2; d++)
				fprintf(f, "    tcp %s: td_end=%u td_maxend=%u td_maxwin=%u td_maxack=%u wscale=%u flags=0x%x\n",
					d ? "reply" : "orig", c->tcpw[d].end,
					c->tcpw[d].maxend, c->tcpw[d].maxwin,
					c->tcpw[d].maxack, c->tcpw[d].wscale,
					c->tcpw[d].flags);
			if (c->sctp)
				fprintf(f, "    sctp vtag orig=0x%08x reply=0x%08x\n",
					c->vtag[0], c->vtag[1]);
			if (c->udp)
				fprintf(f, "    udp stream=%s\n", c->udp_stream ? "yes" : "no");
			break;
		case NF_CKPT_LAYER_HELPER:
			fprintf(f, "    helper %s, %u bytes of private data\n",
				c->helper, c->helper_len);
			break;
		case NF_CKPT_LAYER_SEQADJ:
			for (d = 0; d < 2; d++)
				fprintf(f, "    seqadj %s: pos=%u before=%d after=%d\n",
					d ? "reply" : "orig", c->seq_pos[d],
					c->seq_before[d], c->seq_after[d]);
			break;
		case NF_CKPT_LAYER_EXPECT:
			for (i = 0; i < c->nexpect; i++) {
				const struct expect *e = &c->expect[i];

				fprintf(f, "    expect: ");
				tuple_print(f, c, &e->tuple);
				fprintf(f, "class=%u flags=0x%x timeout=%" PRIu64 " ms helper=%s fn=%s",
					e->class, e->flags, e->timeout_ms,
					e->helper[0] ? e->helper : "-",
					e->fn[0] ? e->fn : "-");
				if (e->assign_helper[0])
					fprintf(f, " assign=%s", e->assign_helper);
				if (e->saved)
					fprintf(f, " saved=%s:%u",
						addr_str(c->family, e->saved_addr, a),
						e->saved_port);
				fputc('\n', f);
			}
			break;
		}
	}
}

static void tuple_json(struct json *j, const char *key, const struct conn *c,
		       const struct tuple *t)
{
	char a[INET6_ADDRSTRLEN];

	if (key)
		json_obj_open(j, key);
	json_str(j, "src", addr_str(c->family, t->src, a));
	json_str(j, "dst", addr_str(c->family, t->dst, a));
	if (t->icmp) {
		json_u64(j, "icmp_type", t->icmp_type);
		json_u64(j, "icmp_code", t->icmp_code);
		json_u64(j, "icmp_id", t->icmp_id);
	} else if (t->ports) {
		json_u64(j, "sport", t->sport);
		json_u64(j, "dport", t->dport);
	}
	if (key)
		json_obj_close(j);
}

static void status_json(struct json *j, uint32_t status)
{
	static const char *const names[] = {
		"EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED", "SRC_NAT",
		"DST_NAT", "SEQ_ADJUST", "SRC_NAT_DONE", "DST_NAT_DONE",
		"DYING", "FIXED_TIMEOUT", "TEMPLATE", "NAT_CLASH", "HELPER",
		"OFFLOAD", "HW_OFFLOAD",
	};
	unsigned int b;

	json_arr_open(j, "status");
	for (b = 0; b < sizeof(names) / sizeof(*names); b++)
		if (status & (1U << b))
			json_str(j, NULL, names[b]);
	json_arr_close(j);
}

static void nat_json(struct json *j, const char *key, const struct conn *c,
		     const struct nat *n)
{
	char a[INET6_ADDRSTRLEN];

	if (!n->present)
		return;
	json_obj_open(j, key);
	json_str(j, "addr", addr_str(c->family, n->addr, a));
	json_u64(j, "port", n->port);
	json_obj_close(j);
}

static void detail_json(struct json *j, const struct conn *c)
{
	char hex[2 * sizeof(c->helper_data) + 1];
	unsigned int d, i;

	if (c->tcp) {
		json_obj_open(j, "tcp");
		for (d = 0; d < 2; d++) {
			json_obj_open(j, d ? "reply" : "orig");
			json_u64(j, "td_end", c->tcpw[d].end);
			json_u64(j, "td_maxend", c->tcpw[d].maxend);
			json_u64(j, "td_maxwin", c->tcpw[d].maxwin);
			json_u64(j, "td_maxack", c->tcpw[d].maxack);
			json_u64(j, "wscale", c->tcpw[d].wscale);
			json_u64(j, "flags", c->tcpw[d].flags);
			json_obj_close(j);
		}
		json_u64(j, "last_dir", c->last_dir);
		json_u64(j, "last_seq", c->last_seq);
		json_u64(j, "last_ack", c->last_ack);
		json_u64(j, "last_end", c->last_end);
		json_u64(j, "last_win", c->last_win);
		json_obj_close(j);
	}
	if (c->sctp) {
		json_obj_open(j, "sctp");
		json_u64(j, "vtag_orig", c->vtag[0]);
		json_u64(j, "vtag_reply", c->vtag[1]);
		json_obj_close(j);
	}
	if (c->udp) {
		json_obj_open(j, "udp");
		json_bool(j, "stream", c->udp_stream);
		json_obj_close(j);
	}
	if (c->layers & (1U << NF_CKPT_LAYER_HELPER)) {
		for (i = 0; i < c->helper_len; i++)
			sprintf(hex + 2 * i, "%02x", c->helper_data[i]);
		hex[2 * c->helper_len] = '\0';
		json_obj_open(j, "helper_data");
		json_str(j, "name", c->helper);
		json_str(j, "data", hex);
		json_obj_close(j);
	}
	if (c->seqadj) {
		json_obj_open(j, "seqadj");
		for (d = 0; d < 2; d++) {
			json_obj_open(j, d ? "reply" : "orig");
			json_u64(j, "correction_pos", c->seq_pos[d]);
			json_i64(j, "offset_before", c->seq_before[d]);
			json_i64(j, "offset_after", c->seq_after[d]);
			json_obj_close(j);
		}
		json_obj_close(j);
	}
	json_arr_open(j, "expect");
	for (i = 0; i < c->nexpect; i++) {
		const struct expect *e = &c->expect[i];

		json_obj_open(j, NULL);
		tuple_json(j, "tuple", c, &e->tuple);
		tuple_json(j, "mask", c, &e->mask);
		json_u64(j, "class", e->class);
		json_u64(j, "flags", e->flags);
		json_u64(j, "timeout_ms", e->timeout_ms);
		json_str(j, "helper", e->helper);
		json_str(j, "assign_helper", e->assign_helper);
		json_str(j, "fn", e->fn);
		json_obj_close(j);
	}
	json_arr_close(j);
	json_obj_open(j, "records");
	for (d = NF_CKPT_LAYER_BASE; d <= NF_CKPT_LAYER_MAX; d++) {
		if (!(c->layers & (1U << d)))
			continue;
		json_obj_open(j, layer_name(d));
		json_u64(j, "bytes", c->meta[d].len);
		json_u64(j, "age_ms", c->meta[d].age_ms);
		json_u64(j, "expires_ms", c->meta[d].expires_ms);
		json_obj_close(j);
	}
	json_obj_close(j);
}

void conn_json(struct json *j, const struct conn *c, bool detail)
{
	json_obj_open(j, NULL);
	json_u64(j, "id", c->id);
	conn_json_fields(j, c, detail);
	json_obj_close(j);
}

void conn_json_fields(struct json *j, const struct conn *c, bool detail)
{
	const char *state = state_name(c);
	bool base = c->layers & (1U << NF_CKPT_LAYER_BASE);
	unsigned int l;

	if (base) {
		json_str(j, "family", c->family == 10 ? "ipv6" : "ipv4");
		json_str(j, "proto", proto_name(c->proto));
		tuple_json(j, NULL, c, &c->orig);
		tuple_json(j, "reply", c, &c->reply);
	}
	/* The state lives in the l4 layer: known even without a base. */
	if (state)
		json_str(j, "state", state);
	else
		json_null(j, "state");
	if (base) {
		status_json(j, c->status);
		json_u64(j, "mark", c->mark);
		json_u64(j, "zone", c->zone);
		json_u64(j, "timeout", conn_timeout_s(c));
		if (c->master_id)
			json_u64(j, "master_id", c->master_id);
		else
			json_null(j, "master_id");
		if (c->nat_src.present || c->nat_dst.present) {
			json_obj_open(j, "nat");
			nat_json(j, "src", c, &c->nat_src);
			nat_json(j, "dst", c, &c->nat_dst);
			json_obj_close(j);
		}
	}
	if (c->helper[0])
		json_str(j, "helper", c->helper);
	else
		json_null(j, "helper");
	json_arr_open(j, "layers");
	for (l = NF_CKPT_LAYER_BASE; l <= NF_CKPT_LAYER_MAX; l++)
		if (c->layers & (1U << l))
			json_str(j, NULL, layer_name(l));
	json_arr_close(j);
	json_u64(j, "expectations", c->expect_total);
	if (detail)
		detail_json(j, c);
}
