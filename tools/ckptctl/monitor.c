// SPDX-License-Identifier: GPL-2.0
/* ckptctl monitor: record puts and deletes as the store makes them. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "ckptctl.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct mon_ctx {
	const struct opts *o;
	struct json j;
	struct conn c;
};

static void mon_put(struct mon_ctx *m, const struct nlattr *rec)
{
	uint64_t id;
	uint16_t layer;

	memset(&m->c, 0, sizeof(m->c));
	if (record_parse(rec, &m->c, &id, &layer) < 0)
		return;
	if (m->o->json) {
		json_obj_open(&m->j, NULL);
		json_str(&m->j, "event", "put");
		json_u64(&m->j, "id", id);
		json_str(&m->j, "layer", layer_name(layer));
		json_u64(&m->j, "bytes", m->c.meta[layer <= NF_CKPT_LAYER_MAX ? layer : 0].len);
		conn_json_fields(&m->j, &m->c, true);
		json_obj_close(&m->j);
		json_end(&m->j);
		return;
	}
	/* PUT is both a new record and an update of an existing one. */
	printf("[PUT] id=0x%016" PRIx64 " layer=%-6s ", id, layer_name(layer));
	conn_print_summary(stdout, &m->c);
	fflush(stdout);
}

static void mon_del(struct mon_ctx *m, uint64_t id, int layer)
{
	if (m->o->json) {
		json_obj_open(&m->j, NULL);
		json_str(&m->j, "event", "del");
		json_u64(&m->j, "id", id);
		if (layer)
			json_str(&m->j, "layer", layer_name(layer));
		else
			json_null(&m->j, "layer");
		json_obj_close(&m->j);
		json_end(&m->j);
		return;
	}
	printf("[DEL] id=0x%016" PRIx64 "%s%s\n", id, layer ? " layer=" : "",
	       layer ? layer_name(layer) : "");
	fflush(stdout);
}

static int mon_msg(const struct nlmsghdr *nlh, void *data)
{
	const struct genlmsghdr *g = mnl_nlmsg_get_payload(nlh);
	struct mon_ctx *m = data;
	const struct nlattr *a;
	uint64_t id = 0;
	int layer = 0;

	mnl_attr_for_each(a, nlh, sizeof(*g)) {
		switch (mnl_attr_get_type(a)) {
		case NF_CKPT_A_RECORD:
			if (g->cmd == NF_CKPT_CMD_PUT)
				mon_put(m, a);
			break;
		case NF_CKPT_A_ID:
			if (mnl_attr_validate(a, MNL_TYPE_U64) == 0)
				id = mnl_attr_get_u64(a);
			break;
		case NF_CKPT_A_LAYER:
			if (mnl_attr_validate(a, MNL_TYPE_U16) == 0)
				layer = mnl_attr_get_u16(a);
			break;
		}
	}
	if (g->cmd == NF_CKPT_CMD_DEL && id)
		mon_del(m, id, layer);
	return stop ? MNL_CB_STOP : MNL_CB_OK;
}

int cmd_monitor(const struct opts *o, int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	static struct mon_ctx m;
	struct nl nl;
	int err, grp;

	if (nl_open(&nl))
		return 1;
	grp = nl.events_group;
	if (!grp || mnl_socket_setsockopt(nl.sock, NETLINK_ADD_MEMBERSHIP,
					  &grp, sizeof(grp)) < 0) {
		fail("unable to join the %s group: %s", NF_CKPT_MCGRP_EVENTS,
		     grp ? strerror(errno) : "group not found");
		nl_close(&nl);
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	m.o = o;
	json_start(&m.j, stdout);
	while (!stop) {
		err = nl_recv_events(&nl, mon_msg, &m);
		if (err == -EINTR || stop)
			break;
		if (err == -ENOBUFS) {
			fprintf(stderr, "ckptctl: warning: events lost (receive buffer overrun)\n");
			continue;
		}
		if (err) {
			nl_fail(&nl, "receive events", -err);
			nl_close(&nl);
			return 1;
		}
	}
	nl_close(&nl);
	return 0;
}
