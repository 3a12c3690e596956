// SPDX-License-Identifier: GPL-2.0
/* ckptctl forget, flush, restore */
#include <string.h>
#include <linux/genetlink.h>

#include "ckptctl.h"

static int simple_request(uint8_t cmd, uint64_t id, int layer, const char *what)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct nl nl;
	int err;

	if (nl_open(&nl))
		return 1;
	nlh = nl_request(&nl, buf, cmd, 0);
	if (id)
		mnl_attr_put_u64(nlh, NF_CKPT_A_ID, id);
	if (layer > 0)
		mnl_attr_put_u16(nlh, NF_CKPT_A_LAYER, layer);
	err = nl_talk(&nl, nlh, NULL, NULL);
	if (err)
		nl_fail(&nl, what, -err);
	nl_close(&nl);
	return err ? 1 : 0;
}

int cmd_forget(const struct opts *o, int argc, char **argv)
{
	uint64_t id;
	int layer = 0;

	if (parse_id(argv[0], &id)) {
		fprintf(stderr, "ckptctl: invalid connection ID '%s'\n", argv[0]);
		return EXIT_USAGE;
	}
	if (argc > 1) {
		layer = layer_parse(argv[1]);
		if (layer < 0) {
			fprintf(stderr, "ckptctl: invalid layer '%s'\n", argv[1]);
			return EXIT_USAGE;
		}
	}
	return simple_request(NF_CKPT_CMD_FORGET, id, layer, "forget the connection");
}

int cmd_flush(const struct opts *o, int argc, char **argv)
{
	return simple_request(NF_CKPT_CMD_FLUSH, 0, 0, "flush the store");
}

static const struct {
	int attr;
	const char *key;
} restore_keys[] = {
	{ NF_CKPT_RES_A_RESTORED, "restored" },
	{ NF_CKPT_RES_A_EXISTING, "existing" },
	{ NF_CKPT_RES_A_FAILED, "failed" },
	{ NF_CKPT_RES_A_EXPECTS, "expects" },
	{ NF_CKPT_RES_A_FAIL_NOMEM, "fail_nomem" },
	{ NF_CKPT_RES_A_FAIL_NOSPC, "fail_nospc" },
	{ NF_CKPT_RES_A_FAIL_HELPER, "fail_helper" },
	{ NF_CKPT_RES_A_FAIL_NAT, "fail_nat" },
	{ NF_CKPT_RES_A_FAIL_INVAL, "fail_inval" },
	{ NF_CKPT_RES_A_FAIL_OTHER, "fail_other" },
	{ NF_CKPT_RES_A_FAIL_EXPECT, "fail_expect" },
};

static int restore_cb(const struct nlmsghdr *nlh, void *data)
{
	uint32_t *v = data;
	const struct nlattr *a, *r;

	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(a) != NF_CKPT_A_RESTORE)
			continue;
		mnl_attr_for_each_nested(r, a)
			if (mnl_attr_get_type(r) <= NF_CKPT_RES_A_MAX &&
			    mnl_attr_validate(r, MNL_TYPE_U32) == 0)
				v[mnl_attr_get_type(r)] = mnl_attr_get_u32(r);
	}
	return MNL_CB_OK;
}

int cmd_restore(const struct opts *o, int argc, char **argv)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint32_t v[NF_CKPT_RES_A_MAX + 1] = {};
	struct nlmsghdr *nlh;
	struct json j;
	struct nl nl;
	size_t i;
	int err;

	if (nl_open(&nl))
		return 1;
	nlh = nl_request(&nl, buf, NF_CKPT_CMD_RESTORE, 0);
	if (o->dry_run)
		mnl_attr_put_u32(nlh, NF_CKPT_A_FLAGS, NF_CKPT_RESTORE_F_DRY_RUN);
	err = nl_talk(&nl, nlh, restore_cb, v);
	if (err) {
		nl_fail(&nl, "restore", -err);
		nl_close(&nl);
		return 1;
	}
	nl_close(&nl);
	if (o->json) {
		json_start(&j, stdout);
		json_obj_open(&j, NULL);
		for (i = 0; i < sizeof(restore_keys) / sizeof(*restore_keys); i++)
			json_u64(&j, restore_keys[i].key, v[restore_keys[i].attr]);
		json_bool(&j, "dry_run", o->dry_run);
		json_obj_close(&j);
		json_end(&j);
		return 0;
	}
	printf("%srestored %u, existing %u, failed %u (nomem %u, nospc %u, helper %u, nat %u, inval %u, other %u), expectations %u (failed %u)\n",
	       o->dry_run ? "dry run: " : "",
	       v[NF_CKPT_RES_A_RESTORED], v[NF_CKPT_RES_A_EXISTING],
	       v[NF_CKPT_RES_A_FAILED], v[NF_CKPT_RES_A_FAIL_NOMEM],
	       v[NF_CKPT_RES_A_FAIL_NOSPC], v[NF_CKPT_RES_A_FAIL_HELPER],
	       v[NF_CKPT_RES_A_FAIL_NAT], v[NF_CKPT_RES_A_FAIL_INVAL],
	       v[NF_CKPT_RES_A_FAIL_OTHER], v[NF_CKPT_RES_A_EXPECTS],
	       v[NF_CKPT_RES_A_FAIL_EXPECT]);
	return 0;
}
