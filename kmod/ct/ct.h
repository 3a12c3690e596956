/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private header of nf_ckpt_ct, the firewall module.
 *
 * Connection IDs
 *   Every conntrack gets a 64-bit ID, unique in its netns while
 *   nf_ckpt_store lives (the store owns one counter per netns).  It
 *   is kept in the conntrack itself, in ct labels bits 64..127 (label bit
 *   64 + k holds ID bit k; NF_CKPT_LABEL_ID_BIT), so that it survives a
 *   reload of this module.  Rulesets keep bits 0..63.  IDs whose low 32
 *   bits are zero are never issued: the low word is written last, so a
 *   non-zero low word means the whole ID is there (lock-free readers).
 *   Conntracks without a labels extension (created before this module
 *   took a labels reference in their netns) get their ID from a
 *   module-owned fallback table keyed by zone + original tuple; those IDs
 *   do not survive a reload.
 *
 * Records
 *   One record per layer (uapi/linux/nf_ckpt.h), built by the encoders
 *   below, one per layer, so that restore.c can mirror them.  Payloads:
 *   - BASE status: IPS_* bits without the run-time ones (CONFIRMED, DYING).
 *   - BASE labels: all 16 bytes with the ID half (bits 64..127) zeroed.
 *   - L4: TCP and SCTP always; UDP only once IPS_ASSURED (the STREAM
 *     flag); none for ICMP/ICMPv6 and other protocols.
 *   - HELPER data: only for helpers whose private area is plain state
 *     (helper.c: ftp, sip; userspace helpers' data_len bytes); other
 *     helpers are recorded by name alone.
 *   - EXPECT helper: the helper that created the expectation (exp->helper,
 *     as ctnetlink's CTA_EXPECT_HELP_NAME); mask: as ctnetlink dumps it
 *     (destination fields all ones).
 */
#ifndef _NF_CKPT_CT_H
#define _NF_CKPT_CT_H

#include <linux/mutex.h>
#include <linux/rhashtable.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_tuple.h>

struct nf_conntrack_helper;
#include <net/nf_ckpt_store.h>

/* Module parameters (main.c). */
extern unsigned int nf_ckpt_update_interval_ms;
extern unsigned int nf_ckpt_grace_ms;
extern bool nf_ckpt_restore;
extern bool nf_ckpt_relearn_assist;
extern bool nf_ckpt_checkpoint_handshake;

/*
 * Parameters may change under us (sysfs): each read once.  Lifetimes end
 * up in u32 jiffies compared as s32, so whatever the parameters sum to
 * stays below a quarter of that range (49 days at HZ=250).
 */
#define NF_CKPT_LIFETIME_MAX	(INT_MAX / 2)

static inline u32 nf_ckpt_interval_jiffies(void)
{
	return min_t(u64, nf_ckpt_ms_to_jiffies(READ_ONCE(nf_ckpt_update_interval_ms)),
		     NF_CKPT_LIFETIME_MAX);
}

/* How long a record outlives its last checkpoint without news. */
static inline u32 nf_ckpt_grace_jiffies(void)
{
	u64 ms = (u64)READ_ONCE(nf_ckpt_grace_ms) +
		 READ_ONCE(nf_ckpt_update_interval_ms);

	return min_t(u64, nf_ckpt_ms_to_jiffies(ms), NF_CKPT_LIFETIME_MAX);
}

/* Run-time status bits left out of BASE records and change detection. */
#define NF_CKPT_STATUS_VOLATILE	(IPS_CONFIRMED | IPS_DYING)

/* Key of the fallback table: where a conntrack without labels is. */
struct nf_ckpt_fb_key {
	union nf_inet_addr	src;
	union nf_inet_addr	dst;
	__be16			sport;		/* u.all */
	__be16			dport;		/* u.all */
	u16			l3num;
	u8			protonum;
	u8			zone_dir;
	u16			zone_id;
	u16			pad;		/* zero */
};

/*
 * What was last written for a connection, compared on every packet.
 * Anything whose change must be written at once is here; what changes
 * all the time (TCP windows, timeouts) is not, and is written at most
 * every update_interval_ms.
 */
struct nf_ckpt_fp {
	u32	status;		/* & ~NF_CKPT_STATUS_VOLATILE */
	u32	mark;
	u64	labels;		/* the user's bits 0..63 */
	u32	l4;		/* TCP/SCTP state (+ SCTP vtags), UDP stream */
	u32	helper;		/* hash of helper and its data, 0: none */
	u32	seqadj;		/* hash of both directions, 0: none */
	u32	expect;		/* hash of the pending expectations, 0: none */
};

/*
 * Per-connection state of this module, keyed by ID (see hooks.c for its
 * use).  Fields but id are written under lock; the packet fast path reads
 * them without it.  Times are jiffies32, like nf_conn's timeout.
 */
struct nf_ckpt_conn {
	struct rhash_head	node;
	u64			id;
	spinlock_t		lock;		/* serialises writes */
	u32			next_refresh;
	u32			expires;	/* state dropped after */
	u8			flags;		/* NF_CKPT_CONN_* */
	u8			layers;		/* BIT(layer): in the store */
	struct nf_ckpt_fp	fp;		/* as last written */
	/*
	 * NF_CKPT_CONN_RELEARN: the TCP window a restore gave the conntrack,
	 * per direction (relearn.c), written before the flag is set.
	 */
	u32			relearn_end[IP_CT_DIR_MAX];
	u32			relearn_maxend[IP_CT_DIR_MAX];
	struct rcu_head		rcu;
};

#define NF_CKPT_CONN_WRITTEN	BIT(0)	/* fp and layers are valid */
#define NF_CKPT_CONN_ENDED	BIT(1)	/* closed: records forgotten */
/* Re-created by a restore, a direction of it not re-learnt yet. */
#define NF_CKPT_CONN_RELEARN	BIT(2)

struct nf_ckpt_ct_net {
	struct net		*net;
	struct rhashtable	conns;
	struct rhashtable	fallback;
	struct delayed_work	gc_work;
	bool			live;		/* walk.c may visit it */
	bool			labels;		/* nf_connlabels_get() held */
	bool			hooks;
	atomic_t		errors;		/* encode or put failures */
	unsigned long		relearn_until;	/* jiffies, relearn.c */
	struct mutex		restore_lock;	/* one restore at a time */
};

struct nf_ckpt_ct_net *nf_ckpt_ct_pernet(const struct net *net);

/* id.c: IDs (allocated by the store, one counter per netns) */
void nf_ckpt_ids_from_labels(void);
int nf_ckpt_conns_init(struct nf_ckpt_ct_net *cn);
void nf_ckpt_conns_destroy(struct nf_ckpt_ct_net *cn);
void nf_ckpt_conns_gc(struct nf_ckpt_ct_net *cn);

/* The ID in ct's labels, 0 if none.  Lock-free, any context. */
u64 nf_ckpt_ct_label_id(const struct nf_conn *ct);
/*
 * Put id into ct's labels (user bits untouched) unless ct already has
 * one: returns the ID ct ends up with, 0 if ct has no labels extension.
 */
u64 nf_ckpt_ct_set_label_id(struct nf_conn *ct, u64 id);
/* ct's ID from labels or the fallback table, 0 if it has none yet. */
u64 nf_ckpt_ct_id(struct nf_ckpt_ct_net *cn, const struct nf_conn *ct);
/*
 * ct's ID, allocating one (labels, else fallback) if needed; 0 on ENOMEM.
 * *fresh (if fresh) tells whether the ID was allocated by this call.
 */
u64 nf_ckpt_ct_get_or_assign_id(struct nf_ckpt_ct_net *cn, struct nf_conn *ct,
				bool *fresh);

struct nf_ckpt_conn *nf_ckpt_conn_lookup(struct nf_ckpt_ct_net *cn, u64 id);
struct nf_ckpt_conn *nf_ckpt_conn_get(struct nf_ckpt_ct_net *cn, u64 id);
void nf_ckpt_conn_remove(struct nf_ckpt_ct_net *cn, struct nf_ckpt_conn *c);

/* encode.c: record payloads, one encoder per layer (nf_ckpt_msg) */

int nf_ckpt_encode_init(void);
void nf_ckpt_encode_exit(void);
/* A per-CPU NF_CKPT_MAX_PAYLOAD buffer: call with BH disabled. */
void *nf_ckpt_encode_buf(void);

/* Each returns 0 (m->len may be 0: nothing to record) or -EMSGSIZE. */
int nf_ckpt_encode_base(struct nf_ckpt_msg *m, const struct nf_conn *ct,
			u64 master_id);
int nf_ckpt_encode_l4(struct nf_ckpt_msg *m, struct nf_conn *ct);
int nf_ckpt_encode_helper(struct nf_ckpt_msg *m, const struct nf_conn *ct);
int nf_ckpt_encode_seqadj(struct nf_ckpt_msg *m, struct nf_conn *ct);
int nf_ckpt_encode_expect(struct nf_ckpt_msg *m, const struct nf_conn *ct);

/* Conntrack timeout left, in jiffies; for unconfirmed ones too. */
unsigned long nf_ckpt_ct_timeout_left(const struct nf_conn *ct);

/*
 * helper.c: how many bytes of a helper's private area are recorded (0:
 * none), and whether a recorded copy may be given back to it.
 */
size_t nf_ckpt_helper_data_len(const struct nf_conntrack_helper *helper);
bool nf_ckpt_helper_data_valid(const struct nf_conntrack_helper *helper,
			       const void *data, size_t len);

/* relearn.c: help conntrack re-learn restored TCP windows */
void nf_ckpt_relearn_init(void);
void nf_ckpt_relearn_net_init(struct nf_ckpt_ct_net *cn);
/*
 * A restore has just inserted ct (any protocol): a TCP one is marked for
 * relearn.c's help, the only conntracks it ever touches.  Does not sleep.
 */
void nf_ckpt_relearn_restored(struct nf_ckpt_ct_net *cn, struct nf_conn *ct);
/*
 * A restore found ct in the table under the record's ID: marked again if
 * TCP with a direction still to re-learn.  Does not sleep.
 */
void nf_ckpt_relearn_existing(struct nf_ckpt_ct_net *cn, struct nf_conn *ct);
unsigned int nf_ckpt_hook_relearn(void *priv, struct sk_buff *skb,
				  const struct nf_hook_state *state);

/* hooks.c */
int nf_ckpt_hooks_register(struct net *net);
void nf_ckpt_hooks_unregister(struct net *net);
/* Checkpoint ct now, every layer.  Any context; takes ct->lock. */
void nf_ckpt_ct_checkpoint(struct nf_ckpt_ct_net *cn, struct nf_conn *ct);
/*
 * What a packet of ct would do (rewrite what changed, everything once
 * update_interval_ms passed), for a conntrack no packet shows us.
 */
void nf_ckpt_ct_refresh(struct nf_ckpt_ct_net *cn, struct nf_conn *ct);

/*
 * walk.c: IDs and a first checkpoint for the conntracks already there at
 * load, then a periodic refresh of the offloaded ones, every netns in one
 * walk.  A netns is walked while live (set at the end of its init,
 * cleared before its state goes); clearing waits for a batch in progress.
 */
void nf_ckpt_walk_start(void);
void nf_ckpt_walk_stop(void);
void nf_ckpt_walk_net_live(struct nf_ckpt_ct_net *cn, bool live);

/*
 * restore.c: re-create the conntracks of net from the store.  Sleeps.
 * may_load: helpers and NAT may be loaded with request_module() (not from
 * a pernet init, which holds pernet_ops_rwsem).
 */
int nf_ckpt_restore_net(struct net *net, bool dry_run, bool may_load,
			struct nf_ckpt_restore_stats *st);

#endif /* _NF_CKPT_CT_H */
