// SPDX-License-Identifier: GPL-2.0
/*
 * ckptctl load FILE: the whole file is read and checked (header, size,
 * checksum, every record's shape) before anything is sent, so a bad file
 * loads nothing.  Records then go to the kernel in LOAD messages of up to
 * LOAD_MSG_BYTES; the kernel takes each message whole or not at all.  If
 * the kernel refuses a message (store full, say), the messages before it
 * stay loaded and ckptctl says how many records made it.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckptctl.h"

#define LOAD_MAX_BYTES	(1ULL << 30)
#define LOAD_MSG_BYTES	(32 * 1024)

static int read_file(const char *path, uint8_t **data, size_t *len)
{
	struct stat st;
	ssize_t n;
	size_t off = 0;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > LOAD_MAX_BYTES + sizeof(struct nf_ckpt_file_hdr)) {
		err = -EFBIG;
		goto out;
	}
	*len = st.st_size;
	*data = malloc(*len ? *len : 1);
	if (!*data) {
		err = -ENOMEM;
		goto out;
	}
	while (off < *len) {
		n = read(fd, *data + off, *len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		off += n;
	}
out:
	close(fd);
	return err;
}

/*
 * A record attribute must carry an ID, a layer and a nested payload, and
 * its inner attributes must exactly fill it.
 */
bool record_ok(const struct nlattr *a)
{
	const uint8_t *p = mnl_attr_get_payload(a);
	size_t len = mnl_attr_get_payload_len(a), off = 0;
	bool id = false, layer = false, payload = false;

	if (mnl_attr_get_type(a) != NF_CKPT_A_RECORD)
		return false;
	while (off < len) {
		const struct nlattr *r = (const void *)(p + off);

		if (len - off < sizeof(*r) || r->nla_len < sizeof(*r) ||
		    r->nla_len > len - off)
			return false;
		switch (mnl_attr_get_type(r)) {
		case NF_CKPT_REC_A_ID:
			id = mnl_attr_validate(r, MNL_TYPE_U64) == 0 &&
			     mnl_attr_get_u64(r) != 0;
			break;
		case NF_CKPT_REC_A_LAYER:
			layer = mnl_attr_validate(r, MNL_TYPE_U16) == 0;
			break;
		case NF_CKPT_REC_A_PAYLOAD:
			payload = true;
			break;
		}
		off += MNL_ALIGN(r->nla_len);
	}
	return id && layer && payload;
}

/* Check the file; on success *recs and *nrecs describe the record bytes. */
static const char *check_file(const uint8_t *data, size_t len,
			      const uint8_t **recs, size_t *rlen)
{
	struct nf_ckpt_file_hdr hdr, *h = &hdr;
	const struct nlattr *a;
	uint64_t n = 0;
	size_t off;

	if (len < sizeof(*h))
		return "truncated (shorter than the file header)";
	/* The header is little endian on every host. */
	memcpy(h, data, sizeof(*h));
	h->version = le32toh(h->version);
	h->hdr_len = le32toh(h->hdr_len);
	h->records = le64toh(h->records);
	h->bytes = le64toh(h->bytes);
	h->crc32 = le32toh(h->crc32);
	h->reserved = le32toh(h->reserved);
	if (memcmp(h->magic, NF_CKPT_FILE_MAGIC, sizeof(h->magic)))
		return "not an nfckpt save file (bad magic)";
	if (h->version != NF_CKPT_FILE_VERSION) {
		static char msg[64];

		snprintf(msg, sizeof(msg), "unsupported file version %u", h->version);
		return msg;
	}
	if (h->hdr_len != sizeof(*h) || h->reserved)
		return "corrupt header";
	if (h->bytes > LOAD_MAX_BYTES)
		return "too large (more than 1 GiB of records)";
	if (len < sizeof(*h) + h->bytes)
		return "truncated";
	if (len > sizeof(*h) + h->bytes)
		return "trailing data after the records";
	*recs = data + sizeof(*h);
	*rlen = h->bytes;
	if (crc32_ieee(0, *recs, *rlen) != h->crc32)
		return "checksum mismatch";
	for (off = 0; off < *rlen; off += MNL_ALIGN(a->nla_len)) {
		a = (const void *)(*recs + off);
		if (*rlen - off < sizeof(*a) || a->nla_len < sizeof(*a) ||
		    a->nla_len > *rlen - off)
			return "malformed record";
		if (!record_ok(a))
			return "malformed record";
		n++;
	}
	if (n != h->records)
		return "record count does not match the header";
	return NULL;
}

static int send_batch(struct nl *nl, const uint8_t *p, size_t len, bool excl)
{
	/* A batch holds up to LOAD_MSG_BYTES, or one record of up to 64 KiB. */
	static char buf[MNL_NLMSG_HDRLEN + 64 + LOAD_MSG_BYTES + 65536];
	struct nlmsghdr *nlh = nl_request(nl, buf, NF_CKPT_CMD_LOAD, 0);

	if (excl)
		mnl_attr_put_u32(nlh, NF_CKPT_A_FLAGS, NF_CKPT_LOAD_F_EXCL);
	memcpy(mnl_nlmsg_get_payload_tail(nlh), p, len);
	nlh->nlmsg_len += len;
	return nl_talk(nl, nlh, NULL, NULL);
}

int cmd_load(const struct opts *o, int argc, char **argv)
{
	const uint8_t *recs = NULL;
	const struct nlattr *a;
	size_t len = 0, rlen = 0, off, start, sent = 0, batch_n = 0;
	uint8_t *data = NULL;
	const char *why;
	struct nl nl;
	int err;

	err = read_file(argv[0], &data, &len);
	if (err) {
		fail("unable to load %s: %s", argv[0],
		     err == -EFBIG ? "file too large" : strerror(-err));
		return 1;
	}
	why = check_file(data, len, &recs, &rlen);
	if (why) {
		fail("unable to load %s: %s; nothing loaded", argv[0], why);
		free(data);
		return 1;
	}
	if (nl_open(&nl)) {
		free(data);
		return 1;
	}
	for (start = off = 0; off < rlen; off += MNL_ALIGN(a->nla_len)) {
		a = (const void *)(recs + off);
		if (off + MNL_ALIGN(a->nla_len) - start > LOAD_MSG_BYTES && off > start) {
			err = send_batch(&nl, recs + start, off - start, o->excl);
			if (err)
				goto refused;
			sent += batch_n;
			batch_n = 0;
			start = off;
		}
		batch_n++;
	}
	if (off > start) {
		err = send_batch(&nl, recs + start, off - start, o->excl);
		if (err)
			goto refused;
		sent += batch_n;
	}
	fprintf(stderr, "loaded %zu records from %s\n", sent, argv[0]);
	nl_close(&nl);
	free(data);
	return 0;

refused:
	fail("unable to load %s: %s (%zu records loaded before this)", argv[0],
	     nl_strerror(&nl, -err), sent);
	nl_close(&nl);
	free(data);
	return 1;
}
