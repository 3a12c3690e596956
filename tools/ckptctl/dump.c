// SPDX-License-Identifier: GPL-2.0
/* Dump records and hand them out grouped by connection ID. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/genetlink.h>

#include "ckptctl.h"

struct dump_ctx {
	struct conn *cur, *tmp;
	bool have;
	conn_cb cb;
	void *data;
	int err;
	unsigned int bad;
};

static void dump_flush(struct dump_ctx *d)
{
	if (d->have && !d->err)
		d->err = d->cb(d->cur, d->data);
	d->have = false;
}

static int dump_msg(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;
	const struct nlattr *a;
	uint64_t id;
	uint16_t layer;

	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(a) != NF_CKPT_A_RECORD)
			continue;
		/* Parse into a scratch conn first to learn the ID. */
		memset(d->tmp, 0, sizeof(*d->tmp));
		if (record_parse(a, d->tmp, &id, &layer) < 0) {
			d->bad++;
			continue;
		}
		if (d->have && d->cur->id != id)
			dump_flush(d);
		if (!d->have) {
			memset(d->cur, 0, sizeof(*d->cur));
			d->have = true;
		}
		record_parse(a, d->cur, &id, &layer);
	}
	return d->err ? MNL_CB_ERROR : MNL_CB_OK;
}

int dump_conns(struct nl *nl, uint64_t id, conn_cb cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct dump_ctx d = { .cb = cb, .data = data };
	struct nlmsghdr *nlh;
	int err;

	d.cur = calloc(1, sizeof(*d.cur));
	d.tmp = calloc(1, sizeof(*d.tmp));
	if (!d.cur || !d.tmp) {
		free(d.cur);
		free(d.tmp);
		return -ENOMEM;
	}
	nlh = nl_request(nl, buf, NF_CKPT_CMD_GET, NLM_F_DUMP);
	if (id)
		mnl_attr_put_u64(nlh, NF_CKPT_A_ID, id);
	err = nl_talk(nl, nlh, dump_msg, &d);
	if (!err)
		dump_flush(&d);
	if (!err && d.err)
		err = d.err;
	if (d.bad)
		fprintf(stderr, "ckptctl: warning: %u malformed records skipped\n", d.bad);
	free(d.cur);
	free(d.tmp);
	return err;
}
