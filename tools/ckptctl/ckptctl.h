/* SPDX-License-Identifier: GPL-2.0 */
#ifndef CKPTCTL_H
#define CKPTCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <libmnl/libmnl.h>
#include <linux/nf_ckpt.h>

#define EXIT_USAGE 2

struct opts {
	bool json;
	bool dry_run;
	bool excl;
};

struct cmd {
	const char *name;
	const char *args;
	const char *help;
	int min_args, max_args;
	int (*run)(const struct opts *o, int argc, char **argv);
};

/* nl.c: generic netlink plumbing */
struct nl {
	struct mnl_socket *sock;
	uint16_t family;
	uint32_t events_group;
	unsigned int seq;
	unsigned int portid;
	char ext_msg[256];
};

typedef int (*nl_msg_cb)(const struct nlmsghdr *nlh, void *data);

int nl_open(struct nl *nl);
void nl_close(struct nl *nl);
struct nlmsghdr *nl_request(struct nl *nl, void *buf, uint8_t cmd,
			    uint16_t flags);
int nl_talk(struct nl *nl, struct nlmsghdr *nlh, nl_msg_cb cb, void *data);
int nl_recv_events(struct nl *nl, nl_msg_cb cb, void *data);
const char *nl_strerror(const struct nl *nl, int err);
int nl_fail(const struct nl *nl, const char *what, int err);
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* json.c: a small JSON writer */
struct json {
	FILE *f;
	int depth;
	bool first[32];
};

void json_start(struct json *j, FILE *f);
void json_obj_open(struct json *j, const char *key);
void json_obj_close(struct json *j);
void json_arr_open(struct json *j, const char *key);
void json_arr_close(struct json *j);
void json_str(struct json *j, const char *key, const char *v);
void json_u64(struct json *j, const char *key, uint64_t v);
void json_i64(struct json *j, const char *key, int64_t v);
void json_bool(struct json *j, const char *key, bool v);
void json_null(struct json *j, const char *key);
void json_end(struct json *j);

/* record.c: payload decoding and formatting */
struct tuple {
	uint8_t src[16], dst[16];
	uint16_t sport, dport;		/* host order */
	uint16_t icmp_id;
	uint8_t icmp_type, icmp_code;
	bool ports, icmp;
};

struct nat {
	bool present;
	uint8_t addr[16];
	uint16_t port;
};

struct tcp_dir {
	uint32_t end, maxend, maxwin, maxack;
	uint8_t wscale, flags;
};

struct expect {
	struct tuple tuple, mask;
	uint32_t class, flags;
	char helper[16], assign_helper[16], fn[32];
	uint64_t timeout_ms;
	uint8_t dir;
	bool saved;
	uint8_t saved_addr[16];
	uint16_t saved_port;
};

#define MAX_EXPECT 16

struct layer_meta {
	uint64_t age_ms, expires_ms;
	uint32_t len;
};

struct conn {
	uint64_t id;
	unsigned int layers;		/* bit per enum nf_ckpt_layer */
	struct layer_meta meta[NF_CKPT_LAYER_MAX + 1];
	/* base */
	uint8_t family, proto, zone_dir;
	uint16_t zone;
	struct tuple orig, reply;
	uint32_t status, mark;
	bool have_labels;
	uint8_t labels[16];
	uint64_t timeout_ms;
	struct nat nat_src, nat_dst;
	uint64_t master_id;
	/* l4 */
	bool tcp, sctp, udp;
	uint8_t l4_state;
	struct tcp_dir tcpw[2];
	uint8_t last_dir, retrans, last_index, last_wscale, last_flags;
	uint32_t last_seq, last_ack, last_end;
	uint16_t last_win;
	uint32_t vtag[2];
	bool udp_stream;
	/* helper */
	char helper[16];
	uint8_t helper_data[1024];
	uint32_t helper_len;
	/* seqadj */
	bool seqadj;
	uint32_t seq_pos[2];
	int32_t seq_before[2], seq_after[2];
	/* expect */
	unsigned int nexpect, expect_total;
	struct expect expect[MAX_EXPECT];
};

const char *layer_name(unsigned int layer);
int layer_parse(const char *s);
int record_parse(const struct nlattr *rec, struct conn *c, uint64_t *id,
		 uint16_t *layer);
uint64_t conn_timeout_s(const struct conn *c);
void conn_print(FILE *f, const struct conn *c);
void conn_print_summary(FILE *f, const struct conn *c);
void conn_print_detail(FILE *f, const struct conn *c);
void conn_json(struct json *j, const struct conn *c, bool detail);
/* conn_json without the braces and the id, to extend an object */
void conn_json_fields(struct json *j, const struct conn *c, bool detail);
int parse_id(const char *s, uint64_t *id);

/* dump.c: walk records grouped by connection */
typedef int (*conn_cb)(const struct conn *c, void *data);
int dump_conns(struct nl *nl, uint64_t id, conn_cb cb, void *data);

/* load.c: is a record attribute well formed (ID, LAYER, PAYLOAD)? */
bool record_ok(const struct nlattr *a);

/* crc32.c */
uint32_t crc32_ieee(uint32_t crc, const void *buf, size_t len);

/* one verb per file */
int cmd_status(const struct opts *o, int argc, char **argv);
int cmd_list(const struct opts *o, int argc, char **argv);
int cmd_show(const struct opts *o, int argc, char **argv);
int cmd_restore(const struct opts *o, int argc, char **argv);
int cmd_forget(const struct opts *o, int argc, char **argv);
int cmd_flush(const struct opts *o, int argc, char **argv);
int cmd_save(const struct opts *o, int argc, char **argv);
int cmd_load(const struct opts *o, int argc, char **argv);
int cmd_monitor(const struct opts *o, int argc, char **argv);

#endif
