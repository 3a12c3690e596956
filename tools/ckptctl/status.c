// SPDX-License-Identifier: GPL-2.0
/* ckptctl status */
#include <inttypes.h>
#include <string.h>
#include <linux/genetlink.h>

#include "ckptctl.h"

struct status {
	uint64_t v[NF_CKPT_STAT_A_MAX + 1];
	bool has[NF_CKPT_STAT_A_MAX + 1];
	bool restorer;
	uint64_t layer_records[NF_CKPT_LAYER_MAX + 1];
	uint64_t layer_bytes[NF_CKPT_LAYER_MAX + 1];
};

static void status_layer(const struct nlattr *nest, struct status *st)
{
	const struct nlattr *a;
	uint64_t records = 0, bytes = 0;
	uint16_t layer = 0;

	mnl_attr_for_each_nested(a, nest) {
		switch (mnl_attr_get_type(a)) {
		case NF_CKPT_LSTAT_A_LAYER:
			if (mnl_attr_validate(a, MNL_TYPE_U16) == 0)
				layer = mnl_attr_get_u16(a);
			break;
		case NF_CKPT_LSTAT_A_RECORDS:
			if (mnl_attr_validate(a, MNL_TYPE_U64) == 0)
				records = mnl_attr_get_u64(a);
			break;
		case NF_CKPT_LSTAT_A_BYTES:
			if (mnl_attr_validate(a, MNL_TYPE_U64) == 0)
				bytes = mnl_attr_get_u64(a);
			break;
		}
	}
	if (layer && layer <= NF_CKPT_LAYER_MAX) {
		st->layer_records[layer] = records;
		st->layer_bytes[layer] = bytes;
	}
}

static int status_cb(const struct nlmsghdr *nlh, void *data)
{
	struct status *st = data;
	const struct nlattr *a, *s;

	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(a) != NF_CKPT_A_STATUS)
			continue;
		mnl_attr_for_each_nested(s, a) {
			int t = mnl_attr_get_type(s);

			if (t == NF_CKPT_STAT_A_RESTORER)
				st->restorer = true;
			else if (t == NF_CKPT_STAT_A_LAYER)
				status_layer(s, st);
			else if (t <= NF_CKPT_STAT_A_MAX &&
				 mnl_attr_validate(s, MNL_TYPE_U64) == 0) {
				st->v[t] = mnl_attr_get_u64(s);
				st->has[t] = true;
			}
		}
	}
	return MNL_CB_OK;
}

static const struct {
	int attr;
	const char *key;
} status_keys[] = {
	{ NF_CKPT_STAT_A_CONNECTIONS, "connections" },
	{ NF_CKPT_STAT_A_RECORDS, "records" },
	{ NF_CKPT_STAT_A_BYTES, "bytes" },
	{ NF_CKPT_STAT_A_LIMIT_BYTES, "limit_bytes" },
	{ NF_CKPT_STAT_A_LIMIT_RECORDS, "limit_records" },
	{ NF_CKPT_STAT_A_PUTS, "puts" },
	{ NF_CKPT_STAT_A_UPDATES, "updates" },
	{ NF_CKPT_STAT_A_DELETES, "deletes" },
	{ NF_CKPT_STAT_A_EXPIRED, "expired" },
	{ NF_CKPT_STAT_A_REFUSED, "refused" },
	{ NF_CKPT_STAT_A_HIGHEST_ID, "highest_id" },
};

static void status_print_json(const struct status *st)
{
	char inst[20];
	struct json j;
	size_t i;
	int l;

	json_start(&j, stdout);
	json_obj_open(&j, NULL);
	snprintf(inst, sizeof(inst), "%016" PRIx64, st->v[NF_CKPT_STAT_A_INSTANCE]);
	json_str(&j, "instance", inst);
	for (i = 0; i < sizeof(status_keys) / sizeof(*status_keys); i++)
		json_u64(&j, status_keys[i].key, st->v[status_keys[i].attr]);
	/* null: no share, only the store's limits apply to this netns */
	if (st->has[NF_CKPT_STAT_A_NETNS_LIMIT_BYTES])
		json_u64(&j, "netns_limit_bytes", st->v[NF_CKPT_STAT_A_NETNS_LIMIT_BYTES]);
	else
		json_null(&j, "netns_limit_bytes");
	if (st->has[NF_CKPT_STAT_A_NETNS_LIMIT_RECORDS])
		json_u64(&j, "netns_limit_records", st->v[NF_CKPT_STAT_A_NETNS_LIMIT_RECORDS]);
	else
		json_null(&j, "netns_limit_records");
	json_bool(&j, "restorer", st->restorer);
	json_obj_open(&j, "layers");
	for (l = NF_CKPT_LAYER_BASE; l <= NF_CKPT_LAYER_MAX; l++) {
		json_obj_open(&j, layer_name(l));
		json_u64(&j, "records", st->layer_records[l]);
		json_u64(&j, "bytes", st->layer_bytes[l]);
		json_obj_close(&j);
	}
	json_obj_close(&j);
	json_obj_close(&j);
	json_end(&j);
}

static const char *share_str(const struct status *st, int attr, char *buf,
			     size_t len)
{
	if (!st->has[attr])
		return "any";
	snprintf(buf, len, "%" PRIu64, st->v[attr]);
	return buf;
}

static void status_print(const struct status *st)
{
	char rbuf[24], bbuf[24];
	int l;

	printf("instance:    %016" PRIx64 "\n", st->v[NF_CKPT_STAT_A_INSTANCE]);
	printf("restorer:    %s\n", st->restorer ? "nf_ckpt_ct loaded" : "none (nf_ckpt_ct not loaded)");
	printf("connections: %" PRIu64 "\n", st->v[NF_CKPT_STAT_A_CONNECTIONS]);
	printf("records:     %" PRIu64 " (%" PRIu64 " bytes)\n",
	       st->v[NF_CKPT_STAT_A_RECORDS], st->v[NF_CKPT_STAT_A_BYTES]);
	printf("limits:      %" PRIu64 " records, %" PRIu64 " bytes (all netns)\n",
	       st->v[NF_CKPT_STAT_A_LIMIT_RECORDS], st->v[NF_CKPT_STAT_A_LIMIT_BYTES]);
	if (st->has[NF_CKPT_STAT_A_NETNS_LIMIT_RECORDS] ||
	    st->has[NF_CKPT_STAT_A_NETNS_LIMIT_BYTES])
		printf("netns share: %s records, %s bytes (a container's netns)\n",
		       share_str(st, NF_CKPT_STAT_A_NETNS_LIMIT_RECORDS, rbuf, sizeof(rbuf)),
		       share_str(st, NF_CKPT_STAT_A_NETNS_LIMIT_BYTES, bbuf, sizeof(bbuf)));
	printf("highest id:  0x%016" PRIx64 "\n", st->v[NF_CKPT_STAT_A_HIGHEST_ID]);
	printf("puts %" PRIu64 " updates %" PRIu64 " deletes %" PRIu64
	       " expired %" PRIu64 " refused %" PRIu64 "\n",
	       st->v[NF_CKPT_STAT_A_PUTS], st->v[NF_CKPT_STAT_A_UPDATES],
	       st->v[NF_CKPT_STAT_A_DELETES], st->v[NF_CKPT_STAT_A_EXPIRED],
	       st->v[NF_CKPT_STAT_A_REFUSED]);
	for (l = NF_CKPT_LAYER_BASE; l <= NF_CKPT_LAYER_MAX; l++)
		if (st->layer_records[l])
			printf("layer %-7s %" PRIu64 " records, %" PRIu64 " bytes\n",
			       layer_name(l), st->layer_records[l], st->layer_bytes[l]);
}

int cmd_status(const struct opts *o, int argc, char **argv)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct status st;
	struct nl nl;
	int err;

	if (nl_open(&nl))
		return 1;
	memset(&st, 0, sizeof(st));
	err = nl_talk(&nl, nl_request(&nl, buf, NF_CKPT_CMD_STATUS, 0),
		      status_cb, &st);
	if (err) {
		nl_fail(&nl, "read the store status", -err);
		nl_close(&nl);
		return 1;
	}
	nl_close(&nl);
	if (o->json)
		status_print_json(&st);
	else
		status_print(&st);
	return 0;
}
