// SPDX-License-Identifier: GPL-2.0
/* Generic netlink plumbing: family lookup, requests, acks with extack. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "ckptctl.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("ckptctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

const char *nl_strerror(const struct nl *nl, int err)
{
	if (nl && nl->ext_msg[0])
		return nl->ext_msg;
	return strerror(err);
}

int nl_fail(const struct nl *nl, const char *what, int err)
{
	return fail("unable to %s: %s", what, nl_strerror(nl, err));
}

struct nlmsghdr *nl_request(struct nl *nl, void *buf, uint8_t cmd,
			    uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = nl->family;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++nl->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = NF_CKPT_GENL_VERSION;
	return nlh;
}

/* Copy the extack message (NLMSGERR_ATTR_MSG) of the TLVs at p into nl. */
static void nl_extack(struct nl *nl, const void *p, int rem)
{
	const struct nlattr *a;

	for (a = p; mnl_attr_ok(a, rem); rem -= MNL_ALIGN(a->nla_len),
	     a = mnl_attr_next(a)) {
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			snprintf(nl->ext_msg, sizeof(nl->ext_msg), "%s",
				 mnl_attr_get_str(a));
	}
}

static int nl_error_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	struct nl *nl = data;
	size_t off;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*err))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (err->error == 0)
		return MNL_CB_STOP;
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		off = sizeof(*err);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			off += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
		if (off < mnl_nlmsg_get_payload_len(nlh))
			nl_extack(nl, (const char *)err + off,
				  (int)(mnl_nlmsg_get_payload_len(nlh) - off));
	}
	if (err->error > 0 || err->error < -4095) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	errno = -err->error;
	return MNL_CB_ERROR;
}

/*
 * The end of a dump: its payload is the dump's error code (0 when all went
 * well), followed by extack TLVs if NLM_F_ACK_TLVS is set.
 */
static int nl_done_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nl *nl = data;
	int error;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(error))
		return MNL_CB_STOP;
	memcpy(&error, mnl_nlmsg_get_payload(nlh), sizeof(error));
	if (!error)
		return MNL_CB_STOP;
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS)
		nl_extack(nl, (const char *)mnl_nlmsg_get_payload(nlh) + sizeof(error),
			  (int)(mnl_nlmsg_get_payload_len(nlh) - sizeof(error)));
	errno = error < 0 && error >= -4095 ? -error : EBADMSG;
	return MNL_CB_ERROR;
}

struct nl_cb_ctx {
	nl_msg_cb cb;
	void *data;
};

static int nl_data_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nl_cb_ctx *ctx = data;

	return ctx->cb ? ctx->cb(nlh, ctx->data) : MNL_CB_OK;
}

/*
 * mnl_cb_run2 hands control callbacks the data callback's pointer; the
 * error callback needs nl, so it goes through nl_current.
 */
static struct nl *nl_current;

static int nl_error_trampoline(const struct nlmsghdr *nlh, void *data)
{
	(void)data;
	return nl_error_cb(nlh, nl_current);
}

static int nl_done_trampoline(const struct nlmsghdr *nlh, void *data)
{
	(void)data;
	return nl_done_cb(nlh, nl_current);
}

static int nl_noop_cb(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	(void)data;
	return MNL_CB_OK;
}

/* Receive until the ack, the end of a dump, or an error. */
static int nl_loop(struct nl *nl, unsigned int seq, nl_msg_cb cb, void *data)
{
	static char buf[65536];
	/*
	 * With a control array, libmnl ignores every control message type
	 * whose entry is NULL (it does not fall back to its defaults), so
	 * NLMSG_DONE needs its own entry or a dump never ends.
	 */
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = {
		[NLMSG_NOOP]	= nl_noop_cb,
		[NLMSG_ERROR]	= nl_error_trampoline,
		[NLMSG_DONE]	= nl_done_trampoline,
		[NLMSG_OVERRUN]	= nl_noop_cb,
	};
	struct nl_cb_ctx ctx = { cb, data };
	ssize_t n;
	int ret;

	nl_current = nl;
	for (;;) {
		n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run2(buf, n, seq, nl->portid, nl_data_cb, &ctx,
				  ctl, NLMSG_MIN_TYPE);
		if (ret == MNL_CB_ERROR)
			return errno ? -errno : -EPROTO;
		if (ret == MNL_CB_STOP)
			return 0;
	}
}

int nl_talk(struct nl *nl, struct nlmsghdr *nlh, nl_msg_cb cb, void *data)
{
	nl->ext_msg[0] = '\0';
	/* A dump ends with NLMSG_DONE; an ack is only asked for plain requests. */
	if (!(nlh->nlmsg_flags & NLM_F_DUMP))
		nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	return nl_loop(nl, nlh->nlmsg_seq, cb, data);
}

int nl_recv_events(struct nl *nl, nl_msg_cb cb, void *data)
{
	return nl_loop(nl, 0, cb, data);
}

static int family_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, CTRL_ATTR_MAX) < 0)
		return MNL_CB_OK;
	tb[type] = a;
	return MNL_CB_OK;
}

static void family_groups(struct nl *nl, const struct nlattr *groups)
{
	const struct nlattr *g, *a;

	mnl_attr_for_each_nested(g, groups) {
		const char *name = NULL;
		uint32_t id = 0;

		mnl_attr_for_each_nested(a, g) {
			if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_NAME &&
			    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
				name = mnl_attr_get_str(a);
			else if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_ID &&
				 mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				id = mnl_attr_get_u32(a);
		}
		if (name && !strcmp(name, NF_CKPT_MCGRP_EVENTS))
			nl->events_group = id;
	}
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[CTRL_ATTR_MAX + 1] = {};
	struct nl *nl = data;

	mnl_attr_parse(nlh, sizeof(struct genlmsghdr), family_attr_cb, tb);
	if (tb[CTRL_ATTR_FAMILY_ID] &&
	    mnl_attr_validate(tb[CTRL_ATTR_FAMILY_ID], MNL_TYPE_U16) == 0)
		nl->family = mnl_attr_get_u16(tb[CTRL_ATTR_FAMILY_ID]);
	if (tb[CTRL_ATTR_MCAST_GROUPS])
		family_groups(nl, tb[CTRL_ATTR_MCAST_GROUPS]);
	return MNL_CB_OK;
}

int nl_open(struct nl *nl)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int one = 1, err;

	memset(nl, 0, sizeof(*nl));
	nl->seq = time(NULL);
	nl->sock = mnl_socket_open(NETLINK_GENERIC);
	if (!nl->sock)
		return fail("unable to open a generic netlink socket: %s",
			    strerror(errno));
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = errno;
		nl_close(nl);
		return fail("unable to bind the netlink socket: %s", strerror(err));
	}
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	nl->portid = mnl_socket_get_portid(nl->sock);

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = ++nl->seq;
	{
		struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));

		g->cmd = CTRL_CMD_GETFAMILY;
		g->version = 1;
	}
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, NF_CKPT_GENL_NAME);
	err = nl_talk(nl, nlh, family_cb, nl);
	if (err || !nl->family) {
		nl_close(nl);
		if (err == -ENOENT || !err)
			return fail("unable to find generic netlink family %s: is nf_ckpt_store loaded?",
				    NF_CKPT_GENL_NAME);
		return fail("unable to find generic netlink family %s: %s",
			    NF_CKPT_GENL_NAME, strerror(-err));
	}
	return 0;
}

void nl_close(struct nl *nl)
{
	if (nl->sock)
		mnl_socket_close(nl->sock);
	nl->sock = NULL;
}
