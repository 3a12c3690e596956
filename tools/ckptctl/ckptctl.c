// SPDX-License-Identifier: GPL-2.0
/*
 * ckptctl: look at and steer the nfckpt checkpoint store over generic
 * netlink.  Acts in the caller's network namespace.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ckptctl.h"

#ifndef CKPTCTL_VERSION
#define CKPTCTL_VERSION "0.1"
#endif

static int cmd_help(const struct opts *o, int argc, char **argv);

static const struct cmd cmds[] = {
	{ "status", "", "store counters and limits (--json)", 0, 0, cmd_status },
	{ "list", "", "one line per checkpointed connection (--json)", 0, 0, cmd_list },
	{ "show", "ID", "a connection and every layer of it (--json)", 1, 1, cmd_show },
	{ "restore", "[--dry-run]", "reassemble conntracks from the store now (--json)", 0, 0, cmd_restore },
	{ "forget", "ID [LAYER]", "delete a connection's records (or one layer)", 1, 2, cmd_forget },
	{ "flush", "", "delete every record of this netns", 0, 0, cmd_flush },
	{ "save", "FILE", "write every record to FILE (atomically)", 1, 1, cmd_save },
	{ "load", "FILE [--excl]", "load the records of FILE into the store", 1, 1, cmd_load },
	{ "monitor", "", "print record puts and deletes as they happen (--json)", 0, 0, cmd_monitor },
	{ "help", "", "this text", 0, 0, cmd_help },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: ckptctl [--json] COMMAND [ARGS]\n"
		   "       ckptctl --version\n\ncommands:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(*cmds); i++) {
		char head[40];

		snprintf(head, sizeof(head), "%s %s", cmds[i].name, cmds[i].args);
		fprintf(f, "  %-24s %s\n", head, cmds[i].help);
	}
	fprintf(f, "\nID is decimal or 0x-prefixed hex; LAYER is base, l4, helper, seqadj or expect.\n"
		   "Exit status: 0 ok, 1 error, 2 usage.\n");
}

static int cmd_help(const struct opts *o, int argc, char **argv)
{
	usage(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "excl", no_argument, NULL, 'x' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = {};
	const struct cmd *cmd = NULL;
	int c, nargs;
	size_t i;

	/* Options may come before or after the command. */
	while ((c = getopt_long(argc, argv, "+jhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': o.json = true; break;
		case 'n': o.dry_run = true; break;
		case 'x': o.excl = true; break;
		case 'V': printf("ckptctl %s\n", CKPTCTL_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(*cmds); i++)
		if (!strcmp(argv[optind], cmds[i].name))
			cmd = &cmds[i];
	if (!cmd) {
		fprintf(stderr, "ckptctl: unknown command '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	/* Command options may come before or after its arguments. */
	optind = 0;	/* 0: a full re-initialisation of GNU getopt */
	while ((c = getopt_long(argc, argv, "j", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': o.json = true; break;
		case 'n': o.dry_run = true; break;
		case 'x': o.excl = true; break;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	nargs = argc - optind;
	if (nargs < cmd->min_args || nargs > cmd->max_args ||
	    (o.dry_run && cmd->run != cmd_restore) ||
	    (o.excl && cmd->run != cmd_load)) {
		fprintf(stderr, "usage: ckptctl %s%s%s\n", cmd->name,
			*cmd->args ? " " : "", cmd->args);
		return EXIT_USAGE;
	}
	return cmd->run(&o, nargs, argv + optind);
}
