// SPDX-License-Identifier: GPL-2.0
/*
 * ckptctl save FILE: every record of this netns, written to a temporary
 * file in the same directory, fsync'ed and renamed over FILE (then the
 * directory is fsync'ed); on any error the temporary file is removed and
 * FILE is left as it was.
 *
 * The file (uapi nf_ckpt.h, version 1):
 *
 *   offset  size  struct nf_ckpt_file_hdr, little endian
 *        0     8  magic "NFCKPT\r\n"
 *        8     4  version (1)
 *       12     4  hdr_len (56)
 *       16     8  instance of the store that wrote it (STATUS)
 *       24     8  records
 *       32     8  bytes of records that follow
 *       40     8  highest_id (STATUS, read after the dump)
 *       48     4  crc32: IEEE CRC-32 (zlib crc32()) of the record bytes
 *       52     4  reserved, 0
 *       56        the records: each one NF_CKPT_A_RECORD attribute exactly
 *                 as the GET dump returned it (struct nlattr + nested
 *                 REC_A_ID, REC_A_LAYER, REC_A_AGE_MS, [REC_A_EXPIRES_MS],
 *                 REC_A_PAYLOAD; native netlink byte order), zero-padded
 *                 to 4 bytes, back to back
 *
 * load.c checks all of it before it sends anything.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/genetlink.h>

#include "ckptctl.h"

struct blob {
	uint8_t *data;
	size_t len, cap;
	uint64_t records;
	int err;
};

static int blob_add(struct blob *b, const void *p, size_t len)
{
	size_t need = b->len + MNL_ALIGN(len);

	if (need > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1 << 16;
		uint8_t *n;

		while (cap < need)
			cap *= 2;
		n = realloc(b->data, cap);
		if (!n)
			return -ENOMEM;
		b->data = n;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, len);
	memset(b->data + b->len + len, 0, MNL_ALIGN(len) - len);
	b->len = need;
	return 0;
}

static int save_msg(const struct nlmsghdr *nlh, void *data)
{
	struct blob *b = data;
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(a) != NF_CKPT_A_RECORD)
			continue;
		/* A record ckptctl load would refuse must not be saved. */
		if (!record_ok(a)) {
			b->err = -EBADMSG;
			return MNL_CB_ERROR;
		}
		if (blob_add(b, a, a->nla_len)) {
			b->err = -ENOMEM;
			return MNL_CB_ERROR;
		}
		b->records++;
	}
	return MNL_CB_OK;
}

static int status_msg(const struct nlmsghdr *nlh, void *data)
{
	struct nf_ckpt_file_hdr *h = data;
	const struct nlattr *a, *s;

	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(a) != NF_CKPT_A_STATUS)
			continue;
		mnl_attr_for_each_nested(s, a) {
			if (mnl_attr_validate(s, MNL_TYPE_U64) < 0)
				continue;
			if (mnl_attr_get_type(s) == NF_CKPT_STAT_A_INSTANCE)
				h->instance = mnl_attr_get_u64(s);
			else if (mnl_attr_get_type(s) == NF_CKPT_STAT_A_HIGHEST_ID)
				h->highest_id = mnl_attr_get_u64(s);
		}
	}
	return MNL_CB_OK;
}

static int write_all(int fd, const void *p, size_t len)
{
	const uint8_t *c = p;
	ssize_t n;

	while (len) {
		n = write(fd, c, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += n;
		len -= n;
	}
	return 0;
}

/* Make the rename durable. */
static int fsync_dir(const char *dir)
{
	int fd, err = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

static int write_atomic(const char *path, const struct nf_ckpt_file_hdr *h,
			const struct blob *b)
{
	char *dup = strdup(path), *tmp = NULL, *dir = NULL;
	int fd = -1, err = -ENOMEM;

	if (dup)
		dir = dirname(dup);	/* dup itself, or a static "." */
	if (!dir || asprintf(&tmp, "%s/.ckptctl-save.XXXXXX", dir) < 0) {
		tmp = NULL;
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	err = write_all(fd, h, sizeof(*h));
	if (!err)
		err = write_all(fd, b->data, b->len);
	if (!err && fsync(fd))
		err = -errno;
	if (!err && fchmod(fd, 0600))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	fd = -1;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	else
		err = fsync_dir(dir);
out:
	free(dup);
	free(tmp);
	return err;
}

int cmd_save(const struct opts *o, int argc, char **argv)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nf_ckpt_file_hdr h = {};
	struct blob b = {};
	uint64_t instance;
	struct nl nl;
	int err;

	if (nl_open(&nl))
		return 1;
	/*
	 * STATUS before and after the dump: the instance must not change
	 * under us, and highest_id is read last so that it covers every ID
	 * the dump returned.
	 */
	err = nl_talk(&nl, nl_request(&nl, buf, NF_CKPT_CMD_STATUS, 0),
		      status_msg, &h);
	instance = h.instance;
	if (!err)
		err = nl_talk(&nl, nl_request(&nl, buf, NF_CKPT_CMD_GET, NLM_F_DUMP),
			      save_msg, &b);
	if (!err && !b.err)
		err = nl_talk(&nl, nl_request(&nl, buf, NF_CKPT_CMD_STATUS, 0),
			      status_msg, &h);
	if (err || b.err) {
		nl_fail(&nl, "dump the records", err ? -err : -b.err);
		goto fail;
	}
	if (h.instance != instance) {
		fail("unable to save to %s: the store was reloaded during the dump",
		     argv[0]);
		goto fail;
	}
	memcpy(h.magic, NF_CKPT_FILE_MAGIC, sizeof(h.magic));
	h.version = htole32(NF_CKPT_FILE_VERSION);
	h.hdr_len = htole32(sizeof(h));
	h.instance = htole64(h.instance);
	h.records = htole64(b.records);
	h.bytes = htole64(b.len);
	h.highest_id = htole64(h.highest_id);
	h.crc32 = htole32(crc32_ieee(0, b.data, b.len));
	err = write_atomic(argv[0], &h, &b);
	if (err) {
		fail("unable to save to %s: %s", argv[0], strerror(-err));
		goto fail;
	}
	fprintf(stderr, "saved %llu records (%zu bytes) to %s\n",
		(unsigned long long)b.records, b.len, argv[0]);
	free(b.data);
	nl_close(&nl);
	return 0;
fail:
	free(b.data);
	nl_close(&nl);
	return 1;
}
