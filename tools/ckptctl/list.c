// SPDX-License-Identifier: GPL-2.0
/* ckptctl list, ckptctl show ID */
#include <errno.h>

#include "ckptctl.h"

struct list_ctx {
	const struct opts *o;
	struct json j;
	bool detail;
	unsigned int n;
};

static int list_one(const struct conn *c, void *data)
{
	struct list_ctx *l = data;

	l->n++;
	if (l->o->json)
		conn_json(&l->j, c, l->detail);
	else if (l->detail)
		conn_print_detail(stdout, c);
	else
		conn_print(stdout, c);
	return 0;
}

static int list_run(const struct opts *o, uint64_t id, bool detail)
{
	struct list_ctx l = { .o = o, .detail = detail };
	struct nl nl;
	int err;

	if (nl_open(&nl))
		return 1;
	json_start(&l.j, stdout);
	if (o->json && !detail)
		json_arr_open(&l.j, NULL);
	err = dump_conns(&nl, id, list_one, &l);
	if (o->json && !detail)
		json_arr_close(&l.j);
	if (o->json && (l.n || !detail))
		json_end(&l.j);
	if (err) {
		nl_fail(&nl, detail ? "show the connection" : "list the records", -err);
		nl_close(&nl);
		return 1;
	}
	nl_close(&nl);
	if (detail && !l.n)
		return fail("unable to show the connection: no record with ID 0x%llx",
			    (unsigned long long)id);
	if (!o->json && !detail)
		fprintf(stderr, "ckptctl: %u connections listed\n", l.n);
	return 0;
}

int cmd_list(const struct opts *o, int argc, char **argv)
{
	return list_run(o, 0, false);
}

int cmd_show(const struct opts *o, int argc, char **argv)
{
	uint64_t id;

	if (parse_id(argv[0], &id)) {
		fprintf(stderr, "ckptctl: invalid connection ID '%s'\n", argv[0]);
		return EXIT_USAGE;
	}
	return list_run(o, id, true);
}
