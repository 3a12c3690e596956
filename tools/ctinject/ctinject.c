// SPDX-License-Identifier: GPL-2.0
/*
 * ctinject: fill the conntrack table fast through ctnetlink, for the
 * benchmarks.  libmnl only (no libnetfilter_conntrack): each entry is one
 * IPCTNL_MSG_CT_NEW with NLM_F_CREATE | NLM_F_EXCL built from raw CTA_*
 * attributes, and many of them go in one sendmsg().  ctnetlink handles
 * the messages of a sendmsg() one by one, synchronously, so when
 * sendmsg() returns they are all in the table (or refused: without
 * NLM_F_ACK the kernel still answers every failed one with an error).
 *
 * Entry i (0-based) is an IPv4 TCP connection in ESTABLISHED, status
 * SEEN_REPLY | ASSURED, window scale 7 both ways:
 *   10.64.0.0 + i / 60000 : 1024 + i % 60000  ->  10.0.2.2 : 443
 * with the inverse reply tuple (no NAT).
 *
 * Modes:
 *   (default)  BATCH messages per sendmsg(), no ACK requested;
 *   --ack      the same, every message with NLM_F_ACK (all ACKs read);
 *   --sync     one message per sendmsg(), NLM_F_ACK, wait for it: what
 *              conntrackd's commit does (one create per entry).
 *   --list     print "SRC DST SPORT DPORT" of the entries, inject nothing.
 *
 * Prints one JSON object: mode, n, created, errors, first_error (errno
 * name), seconds (sendmsg loop only, CLOCK_MONOTONIC), per_s.
 * Exit status: 0 all created, 1 some failed, 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#define PORTS_PER_ADDR	60000u
#define SRC_BASE	0x0a400000u	/* 10.64.0.0 */
#define DST_ADDR	0x0a000202u	/* 10.0.2.2 */
#define DST_PORT	443
#define TCP_ESTABLISHED_STATE	3	/* TCP_CONNTRACK_ESTABLISHED */
#define BUF_SIZE	(128 * 1024)

struct opts {
	unsigned long n;
	unsigned long first;
	unsigned int batch;
	unsigned int timeout;
	bool ack;
	bool sync;
	bool list;
};

struct result {
	unsigned long created;
	unsigned long errors;
	int first_error;
};

static void entry_of(unsigned long i, uint32_t *src, uint16_t *sport)
{
	*src = SRC_BASE + (uint32_t)(i / PORTS_PER_ADDR);
	*sport = (uint16_t)(1024 + i % PORTS_PER_ADDR);
}

static void put_tuple(struct nlmsghdr *nlh, int type, uint32_t src, uint32_t dst,
		      uint16_t sport, uint16_t dport)
{
	struct nlattr *t, *n;

	t = mnl_attr_nest_start(nlh, type);
	n = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, htonl(src));
	mnl_attr_put_u32(nlh, CTA_IP_V4_DST, htonl(dst));
	mnl_attr_nest_end(nlh, n);
	n = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, IPPROTO_TCP);
	mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
	mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
	mnl_attr_nest_end(nlh, n);
	mnl_attr_nest_end(nlh, t);
}

/* Append the create message of entry i at buf; returns its length. */
static size_t build_new(void *buf, unsigned long i, uint32_t seq,
			const struct opts *o)
{
	struct nf_ct_tcp_flags fl = {
		.flags = IP_CT_TCP_FLAG_WINDOW_SCALE | IP_CT_TCP_FLAG_SACK_PERM,
		.mask = IP_CT_TCP_FLAG_WINDOW_SCALE | IP_CT_TCP_FLAG_SACK_PERM,
	};
	struct nlattr *pi, *tcp;
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	uint32_t src;
	uint16_t sport;

	entry_of(i, &src, &sport);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
	if (o->ack || o->sync)
		nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_INET;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;

	put_tuple(nlh, CTA_TUPLE_ORIG, src, DST_ADDR, sport, DST_PORT);
	put_tuple(nlh, CTA_TUPLE_REPLY, DST_ADDR, src, DST_PORT, sport);
	/*
	 * CONFIRMED too: ctnetlink sets it before applying CTA_STATUS, and
	 * 6.1's ctnetlink_change_status() refuses to clear it (-EBUSY).
	 */
	mnl_attr_put_u32(nlh, CTA_STATUS,
			 htonl(IPS_CONFIRMED | IPS_SEEN_REPLY | IPS_ASSURED));
	mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(o->timeout));
	pi = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
	tcp = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);
	mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, TCP_ESTABLISHED_STATE);
	mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, 7);
	mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_WSCALE_REPLY, 7);
	mnl_attr_put(nlh, CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, sizeof(fl), &fl);
	mnl_attr_put(nlh, CTA_PROTOINFO_TCP_FLAGS_REPLY, sizeof(fl), &fl);
	mnl_attr_nest_end(nlh, tcp);
	mnl_attr_nest_end(nlh, pi);
	return nlh->nlmsg_len;
}

/*
 * Read what the kernel queued for us: errors (and ACKs when asked for).
 * Returns the number of messages answered (ACK or error), -1 on a socket
 * error.  block: wait for the first one.
 */
static long drain(struct mnl_socket *nl, void *buf, bool block,
		  struct result *r)
{
	long answered = 0;
	int flags = block ? 0 : MSG_DONTWAIT;
	ssize_t got;
	int len;

	for (;;) {
		struct nlmsghdr *nlh;

		got = recv(mnl_socket_get_fd(nl), buf, BUF_SIZE, flags);
		if (got < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return answered;
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				/* Answers lost: the count is a lower bound. */
				r->errors++;
				if (!r->first_error)
					r->first_error = ENOBUFS;
				continue;
			}
			return -1;
		}
		flags = MSG_DONTWAIT;
		len = (int)got;
		nlh = buf;
		while (mnl_nlmsg_ok(nlh, len)) {
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

				answered++;
				if (e->error) {
					r->errors++;
					if (!r->first_error)
						r->first_error = -e->error;
				}
			}
			nlh = mnl_nlmsg_next(nlh, &len);
		}
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *errno_name(int e)
{
	switch (e) {
	case 0: return "";
	case EEXIST: return "EEXIST";
	case ENOMEM: return "ENOMEM";
	case ENOSPC: return "ENOSPC";
	case EINVAL: return "EINVAL";
	case ENOBUFS: return "ENOBUFS";
	case EPERM: return "EPERM";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENOENT: return "ENOENT";
	}
	return strerror(e);
}

static void usage(int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: ctinject [-n N] [--first I] [--batch B] [--timeout S] [--ack | --sync | --list]\n"
		"  -n N          entries (default 1000)\n"
		"  --first I     index of the first entry (default 0)\n"
		"  --batch B     create messages per sendmsg (default 256)\n"
		"  --timeout S   conntrack timeout in seconds (default 432000)\n"
		"  --ack         NLM_F_ACK on every message (batched)\n"
		"  --sync        one message per sendmsg, wait for its ACK (conntrackd's commit)\n"
		"  --list        print SRC DST SPORT DPORT of the entries, inject nothing\n");
	exit(rc);
}

static int run(const struct opts *o, struct result *r)
{
	struct mnl_socket *nl;
	char *sbuf, *rbuf;
	unsigned long i = 0;
	uint32_t seq = 1;
	int size = 8 << 20;

	sbuf = malloc(BUF_SIZE);
	rbuf = malloc(BUF_SIZE);
	if (!sbuf || !rbuf)
		return -1;
	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("ctinject: netlink socket");
		return -1;
	}
	/* Room for the answers of a whole batch; root may force it. */
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE,
		       &size, sizeof(size)) < 0)
		setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF,
			   &size, sizeof(size));
	setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUFFORCE,
		   &size, sizeof(size));

	while (i < o->n) {
		unsigned int batch = o->sync ? 1 : o->batch, k = 0;
		size_t off = 0;
		long want, got;

		/* A create message is ~150 bytes: stop well before BUF_SIZE. */
		while (k < batch && i + k < o->n && off + 512 < BUF_SIZE) {
			off += build_new(sbuf + off, o->first + i + k, seq++, o);
			k++;
		}
		if (mnl_socket_sendto(nl, sbuf, off) < 0) {
			perror("ctinject: sendmsg");
			return -1;
		}
		i += k;
		want = (o->ack || o->sync) ? (long)k : 0;
		got = drain(nl, rbuf, want > 0, r);
		while (got >= 0 && got < want) {
			long more = drain(nl, rbuf, true, r);

			if (more < 0)
				got = -1;
			else
				got += more;
		}
		if (got < 0) {
			perror("ctinject: recv");
			return -1;
		}
	}
	drain(nl, rbuf, false, r);
	mnl_socket_close(nl);
	free(sbuf);
	free(rbuf);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "first", required_argument, NULL, 'f' },
		{ "batch", required_argument, NULL, 'b' },
		{ "timeout", required_argument, NULL, 't' },
		{ "ack", no_argument, NULL, 'a' },
		{ "sync", no_argument, NULL, 's' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .n = 1000, .batch = 256, .timeout = 432000 };
	struct result r = { 0 };
	const char *mode;
	double t0, dt;
	int c;

	while ((c = getopt_long(argc, argv, "n:f:b:t:aslh", lo, NULL)) != -1) {
		switch (c) {
		case 'n': o.n = strtoul(optarg, NULL, 0); break;
		case 'f': o.first = strtoul(optarg, NULL, 0); break;
		case 'b': o.batch = strtoul(optarg, NULL, 0); break;
		case 't': o.timeout = strtoul(optarg, NULL, 0); break;
		case 'a': o.ack = true; break;
		case 's': o.sync = true; break;
		case 'l': o.list = true; break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (optind != argc || !o.batch || !o.timeout || (o.ack && o.sync))
		usage(2);

	if (o.list) {
		unsigned long i;

		for (i = o.first; i < o.first + o.n; i++) {
			struct in_addr s, d = { .s_addr = htonl(DST_ADDR) };
			char sa[INET_ADDRSTRLEN], da[INET_ADDRSTRLEN];
			uint32_t src;
			uint16_t sport;

			entry_of(i, &src, &sport);
			s.s_addr = htonl(src);
			inet_ntop(AF_INET, &s, sa, sizeof(sa));
			inet_ntop(AF_INET, &d, da, sizeof(da));
			printf("%s %s %u %u\n", sa, da, sport, DST_PORT);
		}
		return 0;
	}

	mode = o.sync ? "sync" : o.ack ? "ack" : "batch";
	t0 = now_s();
	if (run(&o, &r))
		return 1;
	dt = now_s() - t0;
	r.created = o.n - (r.errors > o.n ? o.n : r.errors);
	printf("{\"mode\": \"%s\", \"n\": %lu, \"batch\": %u, \"created\": %lu, "
	       "\"errors\": %lu, \"first_error\": \"%s\", \"seconds\": %.6f, "
	       "\"per_s\": %.1f}\n",
	       mode, o.n, o.sync ? 1 : o.batch, r.created, r.errors,
	       errno_name(r.first_error), dt, dt > 0 ? o.n / dt : 0.0);
	return r.errors ? 1 : 0;
}
