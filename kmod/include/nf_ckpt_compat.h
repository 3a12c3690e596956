/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels nfckpt supports (Debian 6.1 and
 * 6.12) lives here, force-included into every object.  .c files carry no
 * version checks.
 */
#ifndef _NF_CKPT_COMPAT_H
#define _NF_CKPT_COMPAT_H

#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
#define nf_ckpt_genl_dump_attrs(cb)	(genl_dumpit_info(cb)->attrs)
#else
#define nf_ckpt_genl_dump_attrs(cb)	(genl_info_dump(cb)->attrs)
#endif

#endif /* _NF_CKPT_COMPAT_H */
