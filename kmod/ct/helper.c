// SPDX-License-Identifier: GPL-2.0
/*
 * nf_ckpt_ct: which helpers' private data is recorded, and how a restored
 * copy is checked.
 *
 * nfct_help(ct)->data is a kernel structure of the helper, not an ABI.
 * Some helpers keep pointers there (PPTP's GRE keymap): those bytes must
 * never leave the kernel, and must never come back from a record, which
 * userspace can write (LOAD).  So only helpers whose area is plain state
 * with known bounds are recorded, each with a check of what comes back;
 * userspace helpers (nfnetlink_cthelper) keep opaque bytes that
 * userspace gave them in the first place.  Any other helper is restored
 * with a zeroed area, as ctnetlink leaves it.
 */

#include <linux/netfilter/nf_conntrack_ftp.h>
#include <linux/netfilter/nf_conntrack_sip.h>
#include <net/netfilter/nf_conntrack_helper.h>

#include "ct.h"

static bool nf_ckpt_ftp_valid(const void *data)
{
	const struct nf_ct_ftp_master *ftp = data;
	int dir;

	for (dir = 0; dir < IP_CT_DIR_MAX; dir++) {
		/* An index into seq_aft_nl[dir][] for the helper. */
		if (ftp->seq_aft_nl_num[dir] > NUM_SEQ_TO_REMEMBER)
			return false;
		if (ftp->flags[dir] & ~NF_CT_FTP_SEQ_PICKUP)
			return false;
	}
	return true;
}

static bool nf_ckpt_any_valid(const void *data)
{
	return true;
}

static const struct nf_ckpt_helper_area {
	const char	*name;
	size_t		len;
	bool		(*valid)(const void *data);
} nf_ckpt_helper_areas[] = {
	{ "ftp", sizeof(struct nf_ct_ftp_master), nf_ckpt_ftp_valid },
	/* CSeq numbers and a port: compared and used as they are. */
	{ "sip", sizeof(struct nf_ct_sip_master), nf_ckpt_any_valid },
};

static const struct nf_ckpt_helper_area *
nf_ckpt_helper_area(const struct nf_conntrack_helper *helper)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(nf_ckpt_helper_areas); i++)
		if (!strcmp(helper->name, nf_ckpt_helper_areas[i].name))
			return &nf_ckpt_helper_areas[i];
	return NULL;
}

size_t nf_ckpt_helper_data_len(const struct nf_conntrack_helper *helper)
{
	const struct nf_ckpt_helper_area *area;
	size_t max = sizeof_field(struct nf_conn_help, data);

	if (helper->flags & NF_CT_HELPER_F_USERSPACE)
		return min_t(size_t, helper->data_len, max);
	area = nf_ckpt_helper_area(helper);
	return area ? min(area->len, max) : 0;
}

bool nf_ckpt_helper_data_valid(const struct nf_conntrack_helper *helper,
			       const void *data, size_t len)
{
	const struct nf_ckpt_helper_area *area;

	if (!len || len != nf_ckpt_helper_data_len(helper))
		return false;
	if (helper->flags & NF_CT_HELPER_F_USERSPACE)
		return true;
	area = nf_ckpt_helper_area(helper);
	return area && area->valid(data);
}
