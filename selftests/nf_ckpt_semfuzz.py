#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Structure-aware fuzzer of the restore path (issue #13), python3 stdlib.

  nf_ckpt_semfuzz.py run --ckptctl PATH --records N [--seed S]
                         [--conns-per-round C] [--views-every K] [--tag T]

Meant to run as root of a user namespace that owns a fresh netns
(unshare -Urn), with nf_ckpt_store, nf_ckpt_ct, nf_conntrack_netlink and
nf_nat loaded by the host.  Every record it LOADs passes the store's
shape checks (kmod/store/policy.c): right types, lengths and nesting,
values within the policy's bounds.  Their meaning is random: every TCP and
SCTP state the policy lets through (SCTP 9, HEARTBEAT_ACKED, which no
kernel uses any more), last_dir, last_index, window scales and values,
per-direction and last flags, retransmits, status bits, marks, labels,
zone and zone direction, NAT mappings with and without the status bits,
helper names (ftp, sip, irc, tftp, amanda, Q.931, RAS, sane, snmp,
netbios-ns, pptp and bogus ones) with private areas of right and wrong
sizes, masters, expectations (class 0..3, flags, creator helper, assign
helper, expectfn, saved address, direction, protocol, timeouts up to
2^64-1 ms), ICMP tuples that do and do not invert, reply tuples that are
and are not the inverse of the original, addresses of the other family's
size, IPv4 and IPv6, attributes left out.

A round: FLUSH the store, flush conntrack (ctnetlink), LOAD a batch of
connections (every LOAD must be accepted: its records are shape-valid),
`ckptctl restore --json` (while `conntrack -E` runs all along), then read
every kernel view of the result and check it:
  /proc/net/nf_conntrack and /proc/net/nf_conntrack_expect: printable
    lines of the known format, TCP and SCTP state names from the kernel's
    tables, expectation helper/class names from the helpers' policies,
    no more conntracks than the restore says it created, no more
    expectations than it created;
  the RESTORE answer: failed == the sum of the reasons, and restored +
    existing + failed connections (failed less fail_expect) <= the
    connections loaded;
  every K rounds: `conntrack -L -o extended` and `conntrack -L expect`
    (exit 0, well-formed, no more entries than /proc showed just before),
    `ckptctl list` (exit 0, at most one line per connection loaded) and
    `ckptctl show` of a few IDs (exit 0);
  then packets through the restored flows that live on lo (127.0.0.0/8,
    ::1): TCP segments with random flags, sequence and window, UDP, SCTP
    chunks, ICMP echo, in both directions, over raw sockets.
The last line: "summary tag=... seed=... records=N loaded=L conns=C
rounds=R restored=... existing=... failed=... fail_inval=... ...
expects=... packets=... events=... seconds=S result=ok|violation".
Exit 0: no violation; 1: violations (each printed as it is found: the
run goes on with a fresh round, up to --max-violations); 2: setup error.
"""
import argparse
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nf_ckpt_fuzz import (  # noqa: E402
    A_FLAGS, A_RECORD, B_FAMILY, B_LABELS, B_MARK, B_MASTER, B_NAT_DST,
    B_NAT_SRC, B_PROTO, B_STATUS, B_TIMEOUT, B_TUPLE_ORIG, B_TUPLE_REPLY,
    B_ZONE, B_ZONE_DIR, CMD_FLUSH, CMD_LOAD, E_CLASS, E_DIR, E_FLAGS,
    E_FN, E_HELPER, E_MASK, E_PROTO, E_SADDR, E_SPORT, E_TIMEOUT, E_TUPLE,
    EXP_ITEM, H_DATA, H_NAME, L4_SCTP, L4_TCP, L4_UDP, L_BASE, L_EXPECT,
    L_HELPER, L_L4, L_SEQADJ, NAT_ADDR, NAT_PORT, NLMSG_ERROR, NETLINK_NETFILTER,
    F_ACK, F_REQUEST, NlSock, SEQ_AFTER, SEQ_BEFORE, SEQ_ORIG, SEQ_POS,
    SEQ_REPLY, T_DPORT, T_DST, T_ICMP_CODE, T_ICMP_ID, T_ICMP_TYPE,
    T_SPORT, T_SRC, TCP_ORIG, TCP_REPLY, TCP_STATE, Violation, W_END,
    W_FLAGS, W_MAXACK, W_MAXEND, W_MAXWIN, W_WSCALE, be16, err_of, genlhdr,
    nest, nla, nlmsg, parse_last, rec_attr, resolve_family, split_msgs, u8, u16, u32,
    u64)

E_ASSIGN = 13                   # NF_CKPT_EXP_A_ASSIGN_HELPER
TCP_LAST_DIR, TCP_RETRANS, TCP_LAST_INDEX, TCP_LAST_SEQ = 4, 5, 6, 7
TCP_LAST_ACK, TCP_LAST_END, TCP_LAST_WIN, TCP_LAST_WSCALE, TCP_LAST_FLAGS = \
    8, 9, 10, 11, 12
S_STATE, S_VTAG_O, S_VTAG_R, S_INIT_O, S_INIT_R, S_LAST_DIR, S_FLAGS = \
    1, 2, 3, 4, 5, 6, 7
UDP_STREAM = 1

# What the kernel prints (nf_conntrack_proto_{tcp,sctp}.c, the helpers'
# expect policies).
TCP_NAMES = {"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
             "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}
SCTP_NAMES = {"NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED",
              "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT",
              "HEARTBEAT_SENT"}
L4_NAMES = {"tcp", "udp", "udplite", "icmp", "icmpv6", "sctp", "dccp", "gre",
            "unknown"}
HELPERS = {"ftp", "sip", "irc", "tftp", "amanda", "Q.931", "RAS", "H.245",
           "sane", "snmp", "netbios-ns", "pptp", "snmp_trap"}
CLASS_NAMES = {"signalling", "audio", "video", "image", "H.245", "Q.931", "RAS",
               "amanda", "pptp", "snmp", "netbios-ns", "sane", "ftp", "irc",
               "tftp"}

# Helpers by protocol (what the kernel registers), and names it has not.
TCP_HELPERS = ["ftp", "ftp", "sip", "irc", "Q.931", "sane", "pptp"]
UDP_HELPERS = ["sip", "sip", "tftp", "RAS", "amanda", "snmp", "netbios-ns"]
BOGUS_HELPERS = ["nfckpt-bogus", "FTP", "ftp-21", "x" * 15, "h323", "H.245"]
FNS = ["nat-follow-master", "nat-sip", "nat-callforwarding", "nat-q931",
       "nat-rtp-rtcp", "nat-sdp", "no-such-expectfn"]
# Helper private areas the restorer checks by size: ftp 24, sip 12.
AREA = {"ftp": 24, "sip": 12}

IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6 = 1, 6, 17, 58
IPPROTO_SCTP, IPPROTO_UDPLITE, IPPROTO_DCCP, IPPROTO_GRE = 132, 136, 33, 47
# ICMP types with an inverse (nf_conntrack_proto_icmp{,v6}.c) and some without
ICMP_INV = [0, 8, 13, 14, 15, 16, 17, 18]
ICMP_NOINV = [3, 4, 5, 11, 12, 255, 1]
ICMP6_INV = [128, 129, 130, 131, 139, 140]
ICMP6_NOINV = [1, 2, 3, 4, 135, 136, 255]
ICMP_INVERSE = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17,
                128: 129, 129: 128, 130: 131, 131: 130, 139: 140, 140: 139}


def ones(r, *bits):
    """A value made of some of the given bits, sometimes all 32 random."""
    if r.random() < 0.15:
        return r.getrandbits(32)
    v = 0
    for b in bits:
        if r.random() < 0.5:
            v |= b
    return v


class Gen:
    def __init__(self, r, assign=True):
        self.r = r
        self.assign = assign        # NF_CKPT_EXP_A_ASSIGN_HELPER known

    # -- addresses and tuples
    def addr(self, fam, lo=False):
        r = self.r
        if r.random() < 0.01:
            fam = 10 if fam == 2 else 2          # the other family's size
        if fam == 2:
            if lo:
                return bytes([127, 0, 0, r.choice([1, 1, 2])])
            return bytes([r.choice([10, 192, 0, 255, 224]), r.randint(0, 255),
                          r.randint(0, 3), r.randint(0, 255)])
        if lo:
            return b"\0" * 15 + b"\1"
        return r.choice([bytes([0xfd, 0, 9, 9] + [0] * 10 + [r.randint(0, 3), r.randint(0, 255)]),
                         b"\xff\x02" + b"\0" * 13 + b"\1", b"\0" * 16,
                         bytes(r.getrandbits(8) for _ in range(16))])

    def port(self):
        r = self.r
        return r.choice([0, 20, 21, 69, 194, 1720, 1719, 5060, 6667, 10000,
                         r.randint(1024, 65535), 65535])

    def tuple_parts(self, fam, proto, src, dst, sp, dp, itype, icode, iid):
        r = self.r
        parts = [nla(T_SRC, src), nla(T_DST, dst)]
        icmp = proto in (IPPROTO_ICMP, IPPROTO_ICMPV6)
        if icmp or r.random() < 0.03:
            parts += [be16(T_ICMP_ID, iid), u8(T_ICMP_TYPE, itype), u8(T_ICMP_CODE, icode)]
        if not icmp or r.random() < 0.03:
            parts += [be16(T_SPORT, sp), be16(T_DPORT, dp)]
        if r.random() < 0.03:
            del parts[r.randrange(len(parts))]
        return parts

    def icmp_type(self, proto):
        r = self.r
        inv = r.random() < 0.9
        if proto == IPPROTO_ICMPV6:
            return r.choice(ICMP6_INV if inv else ICMP6_NOINV)
        return r.choice(ICMP_INV if inv else ICMP_NOINV)

    # -- BASE
    def base(self, lo, master=None):
        r = self.r
        fam = r.choice([2, 2, 10])
        k = r.random()
        if k < 0.35:
            proto = IPPROTO_TCP
        elif k < 0.55:
            proto = IPPROTO_UDP
        elif k < 0.7:
            proto = IPPROTO_SCTP
        elif k < 0.85:
            proto = IPPROTO_ICMP if fam == 2 else IPPROTO_ICMPV6
        else:
            proto = r.choice([IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_UDPLITE,
                              IPPROTO_DCCP, IPPROTO_GRE, 0, 255, r.randint(0, 255)])
        src, dst = self.addr(fam, lo), self.addr(fam, lo)
        sp, dp = self.port(), self.port()
        itype = self.icmp_type(proto) if proto in (1, 58) else r.randint(0, 255)
        icode = 0 if r.random() < 0.8 else r.randint(0, 255)
        iid = r.getrandbits(16)
        orig = nest(B_TUPLE_ORIG, *self.tuple_parts(fam, proto, src, dst, sp, dp,
                                                    itype, icode, iid))
        k = r.random()
        if k < 0.8:
            rtype = ICMP_INVERSE.get(itype, itype)
            reply = nest(B_TUPLE_REPLY, *self.tuple_parts(fam, proto, dst, src, dp, sp,
                                                          rtype, icode, iid))
        elif k < 0.9:
            # NATed: the reply comes from elsewhere
            reply = nest(B_TUPLE_REPLY, *self.tuple_parts(
                fam, proto, self.addr(fam, lo), src, self.port(), sp,
                ICMP_INVERSE.get(itype, itype), icode, iid))
        else:
            reply = nest(B_TUPLE_REPLY, *self.tuple_parts(
                fam, proto, self.addr(fam), self.addr(fam), self.port(), self.port(),
                self.icmp_type(proto), r.randint(0, 3), r.getrandbits(16)))
        parts = [u8(B_FAMILY, fam), u8(B_PROTO, proto), orig, reply]
        if r.random() < 0.97:
            # IPS_*: EXPECTED 1, SEEN_REPLY 2, ASSURED 4, CONFIRMED 8,
            # SRC_NAT 16, DST_NAT 32, SEQ_ADJUST 64, ..., DYING 512,
            # FIXED_TIMEOUT 1024, TEMPLATE 2048, UNTRACKED 4096,
            # HELPER 8192, OFFLOAD 16384, HW_OFFLOAD 32768
            parts.append(u32(B_STATUS, ones(r, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512,
                                            1024, 2048, 4096, 8192, 16384, 32768)))
        if r.random() < 0.5:
            parts.append(u32(B_MARK, r.getrandbits(32)))
        if r.random() < 0.4:
            parts.append(u16(B_ZONE, r.choice([0, 0, 1, 7, 65535, r.getrandbits(16)])))
        if r.random() < 0.3:
            parts.append(u8(B_ZONE_DIR, r.randint(0, 3)))
        if r.random() < 0.3:
            parts.append(nla(B_LABELS, bytes(r.getrandbits(8) for _ in range(16))))
        if r.random() < 0.95:
            parts.append(u64(B_TIMEOUT, r.choice([
                432000000, 432000000, 120000, 30000, 1, 0, 1 << 31, (1 << 32) + 1,
                (1 << 63), (1 << 64) - 1, r.getrandbits(48)])))
        for t in (B_NAT_SRC, B_NAT_DST):
            if r.random() < 0.15:
                nat = []
                if r.random() < 0.9:
                    nat.append(nla(NAT_ADDR, self.addr(fam, lo)))
                if r.random() < 0.8:
                    nat.append(be16(NAT_PORT, r.choice([sp, dp, self.port()])))
                parts.append(nest(t, *nat))
        if master is not None:
            parts.append(u64(B_MASTER, master))
        r.shuffle(parts)
        return b"".join(parts), fam, proto, (src, dst, sp, dp, itype, icode, iid)

    # -- L4
    def tcp_flags(self):
        """IP_CT_TCP_FLAG_* bits, now and then some conntrack never sets."""
        r = self.r
        if r.random() < 0.9:
            return r.choice([0, 0, 0x01, 0x02, 0x03, 0x08, 0x10, 0x1f, 0x7f, r.getrandbits(7)])
        return r.choice([0x80, 0xff, r.getrandbits(8)])

    def tcpw(self, t):
        r = self.r
        parts = [u32(W_END, r.getrandbits(32)), u32(W_MAXEND, r.getrandbits(32)),
                 u32(W_MAXWIN, r.choice([0, 1, 65535, r.getrandbits(32)])),
                 u32(W_MAXACK, r.getrandbits(32)),
                 u8(W_WSCALE, r.choice([0, 7, 14, r.randint(0, 14)])),
                 u8(W_FLAGS, self.tcp_flags())]
        if r.random() < 0.2:
            parts = r.sample(parts, r.randint(0, len(parts)))
        return nest(t, *parts)

    def l4(self, proto):
        r = self.r
        kind = {IPPROTO_TCP: L4_TCP, IPPROTO_SCTP: L4_SCTP, IPPROTO_UDP: L4_UDP,
                IPPROTO_UDPLITE: L4_UDP}.get(proto)
        if kind is None or r.random() < 0.05:
            kind = r.choice([L4_TCP, L4_SCTP, L4_UDP])
        if kind == L4_TCP:
            parts = [u8(TCP_STATE, r.choice([3, 3, r.randint(0, 9)])),
                     self.tcpw(TCP_ORIG), self.tcpw(TCP_REPLY),
                     u8(TCP_LAST_DIR, r.randint(0, 1)),
                     u8(TCP_RETRANS, r.choice([0, 1, 3, 255, r.getrandbits(8)])),
                     u8(TCP_LAST_INDEX, r.randint(0, 5)),
                     u32(TCP_LAST_SEQ, r.getrandbits(32)), u32(TCP_LAST_ACK, r.getrandbits(32)),
                     u32(TCP_LAST_END, r.getrandbits(32)), u16(TCP_LAST_WIN, r.getrandbits(16)),
                     u8(TCP_LAST_WSCALE, r.randint(0, 14)),
                     u8(TCP_LAST_FLAGS, self.tcp_flags())]
            if r.random() < 0.2:
                parts = r.sample(parts, r.randint(0, len(parts)))
            return nest(L4_TCP, *parts)
        if kind == L4_SCTP:
            bad = lambda: r.choice([0, 1]) if r.random() < 0.93 else r.choice([2, 255])
            state = 9 if r.random() < 0.08 else r.choice([4, 4, r.randint(0, 8)])
            parts = [u8(S_STATE, state),
                     nla(S_VTAG_O, struct.pack(">I", r.getrandbits(32))),
                     nla(S_VTAG_R, struct.pack(">I", r.getrandbits(32))),
                     u8(S_INIT_O, bad()), u8(S_INIT_R, bad()),
                     u8(S_LAST_DIR, r.randint(0, 1)), u8(S_FLAGS, bad())]
            if r.random() < 0.2:
                parts = r.sample(parts, r.randint(0, len(parts)))
            return nest(L4_SCTP, *parts)
        return nest(L4_UDP, *([nla(UDP_STREAM, b"")] if r.random() < 0.5 else []))

    # -- HELPER
    def helper_name(self, proto):
        r = self.r
        if r.random() < 0.12:
            return r.choice(BOGUS_HELPERS)
        if proto == IPPROTO_TCP:
            return r.choice(TCP_HELPERS)
        if proto == IPPROTO_UDP:
            return r.choice(UDP_HELPERS)
        return r.choice(TCP_HELPERS + UDP_HELPERS)

    def helper(self, name):
        r = self.r
        parts = [nla(H_NAME, name.encode() + b"\0")]
        n = AREA.get(name)
        if r.random() < 0.1:
            n = r.choice([1, 12, 16, 24, 32, r.randint(1, 32)])
        if n is not None and r.random() < 0.9:
            data = bytearray(r.getrandbits(8) for _ in range(n))
            if name == "ftp" and n == 24 and r.random() < 0.7:
                # seq_aft_nl_num <= 2, flags <= NF_CT_FTP_SEQ_PICKUP
                struct.pack_into("<HHHH", data, 16, r.randint(0, 2), r.randint(0, 2),
                                 r.randint(0, 1), r.randint(0, 1))
            parts.append(nla(H_DATA, bytes(data)))
        return b"".join(parts)

    def seqadj(self):
        r = self.r
        d = lambda t: nest(t, u32(SEQ_POS, r.getrandbits(32)),
                           u32(SEQ_BEFORE, r.choice([0, 1, 0xffffffff, r.getrandbits(32)])),
                           u32(SEQ_AFTER, r.choice([0, 1, 0x80000000, r.getrandbits(32)])))
        return b"".join(d(t) for t in (SEQ_ORIG, SEQ_REPLY) if r.random() < 0.8)

    # -- EXPECT
    def expect(self, fam, proto, helper, t):
        r = self.r
        src, dst, sp, dp, itype, icode, iid = t
        items = []
        for _ in range(r.choice([1, 1, 1, 2, 3])):
            p = proto if r.random() < 0.85 else r.choice([6, 17, 132, 1, 58])
            sport = r.choice([0, sp, self.port()])
            tup = nest(E_TUPLE, *self.tuple_parts(fam, p, src if r.random() < 0.7 else self.addr(fam),
                                                  dst, sport, self.port(), itype, icode, iid))
            mask = nest(E_MASK, *self.tuple_parts(
                fam, p, r.choice([b"\xff" * (4 if fam == 2 else 16), b"\0" * (4 if fam == 2 else 16)]),
                b"\xff" * (4 if fam == 2 else 16), r.choice([0, 0xffff]), 0xffff, 0xff, 0xff,
                r.choice([0, 0xffff])))
            parts = [tup, mask]
            if r.random() < 0.9:
                parts.append(u32(E_CLASS, r.choice([0, 0, 0, 1, 2, 3])))
            if r.random() < 0.8:
                parts.append(u32(E_FLAGS, r.choice([0, 0, 1, 2, 4, 7, r.randint(0, 7)])))
            if r.random() < 0.9:
                parts.append(u64(E_TIMEOUT, r.choice([300000, 300000, 1, 0, 1 << 32,
                                                      (1 << 64) - 1, r.getrandbits(40)])))
            k = r.random()
            if k < 0.7 and helper:
                parts.append(nla(E_HELPER, helper.encode() + b"\0"))
            elif k < 0.88:
                parts.append(nla(E_HELPER, self.helper_name(p).encode() + b"\0"))
            if r.random() < 0.2 and self.assign:
                parts.append(nla(E_ASSIGN, self.helper_name(p).encode() + b"\0"))
            if r.random() < 0.35:
                parts.append(nla(E_FN, (FNS[0] if r.random() < 0.5 else r.choice(FNS)).encode() + b"\0"))
            if r.random() < 0.5:
                parts += [u8(E_DIR, r.randint(0, 1)), nla(E_SADDR, self.addr(fam)),
                          be16(E_SPORT, self.port())]
            if r.random() < 0.3:
                parts.append(u8(E_PROTO, p))
            r.shuffle(parts)
            items.append(nest(EXP_ITEM, *parts))
        return b"".join(items)

    def conn(self, master=None):
        """(records [(layer, payload)], description) of one connection."""
        r = self.r
        lo = r.random() < 0.25
        b, fam, proto, t = self.base(lo, master)
        recs = [(L_BASE, b)]
        if r.random() < 0.85:
            recs.append((L_L4, self.l4(proto)))
        helper = None
        if r.random() < 0.45:
            helper = self.helper_name(proto)
            recs.append((L_HELPER, self.helper(helper)))
        if r.random() < 0.1:
            recs.append((L_SEQADJ, self.seqadj()))
        if r.random() < (0.6 if helper else 0.08):
            recs.append((L_EXPECT, self.expect(fam, proto, helper, t)))
        if r.random() < 0.02:
            recs.pop(0)                     # no BASE
        return recs, {"fam": fam, "proto": proto, "lo": lo, "t": t}


# ------------------------------------------------------------ packets

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


class Packets:
    """Raw IPv4/IPv6 packets on lo (the netns's own), header included."""

    def __init__(self, r):
        self.r = r
        self.s4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.s6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.sent = 0
        self.errors = 0

    def l4(self, proto, src, dst, sp, dp, itype, icode, iid):
        r = self.r
        v6 = len(src) == 16
        if proto == IPPROTO_TCP:
            flags = r.choice([0x10, 0x18, 0x02, 0x12, 0x11, 0x04, 0x14, 0x01,
                              0x03, 0x3f, 0x00, r.getrandbits(8)])
            hdr = struct.pack("!HHIIBBHHH", sp, dp, r.getrandbits(32), r.getrandbits(32),
                              5 << 4, flags, r.choice([0, 1, 512, 65535, r.getrandbits(16)]), 0, 0)
            body = hdr + os.urandom(r.choice([0, 0, 10, 100]))
        elif proto in (IPPROTO_UDP, IPPROTO_UDPLITE):
            pay = os.urandom(r.choice([0, 8, 64]))
            body = struct.pack("!HHHH", sp, dp, 8 + len(pay), 0) + pay
        elif proto == IPPROTO_SCTP:
            # common header (crc32c left 0: not checked on the way out)
            # and one chunk: DATA, INIT, INIT_ACK, SACK, HEARTBEAT(_ACK),
            # ABORT, SHUTDOWN(_ACK), COOKIE_ECHO/ACK, SHUTDOWN_COMPLETE
            ctype = r.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 14, r.getrandbits(8)])
            chunk = struct.pack("!BBH", ctype, r.getrandbits(8), 20) + os.urandom(16)
            body = struct.pack("!HHII", sp, dp, r.getrandbits(32), 0) + chunk
        elif proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
            body = struct.pack("!BBHHH", itype, icode, 0, iid, r.getrandbits(16)) + os.urandom(8)
        else:
            body = os.urandom(16)
        if proto in (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6) or \
                (proto == IPPROTO_ICMP and not v6):
            if proto == IPPROTO_ICMP:
                pseudo = b""
            elif v6:
                pseudo = src + dst + struct.pack("!IxxxB", len(body), proto)
            else:
                pseudo = src + dst + struct.pack("!xBH", proto, len(body))
            off = {IPPROTO_TCP: 16, IPPROTO_UDP: 6}.get(proto, 2)
            c = csum(pseudo + body)
            body = body[:off] + struct.pack("!H", c or (0xffff if proto == IPPROTO_UDP else 0)) + \
                body[off + 2:]
        return body

    def send(self, proto, src, dst, sp, dp, itype, icode, iid):
        if len(src) != len(dst) or len(src) not in (4, 16):
            return
        body = self.l4(proto, src, dst, sp, dp, itype, icode, iid)
        try:
            if len(src) == 4:
                ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0x4000, 64,
                                 proto, 0, src, dst)
                ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
                self.s4.sendto(ip + body, (socket.inet_ntop(socket.AF_INET, dst), 0))
            else:
                ip = struct.pack("!IHBB16s16s", 6 << 28, len(body), proto, 64, src, dst)
                self.s6.sendto(ip + body, (socket.inet_ntop(socket.AF_INET6, dst), 0))
            self.sent += 1
        except OSError:
            self.errors += 1     # no route (a restored address not on lo) and the like


# ---------------------------------------------------------------- views

PRINTABLE = re.compile(r"^[\x20-\x7e]*$")


def read_proc(path):
    """The lines of a /proc file, bytes beyond ASCII kept (latin-1) for
    the line checks to report."""
    with open(path, "rb") as f:
        data = f.read()
    return [line for line in data.decode("latin-1").split("\n") if line]


def check_ct_line(line):
    """A line of /proc/net/nf_conntrack (ct_seq_show)."""
    if not PRINTABLE.match(line):
        raise Violation("nf_conntrack: unprintable line %r" % line)
    f = line.split()
    if len(f) < 6 or f[0] not in ("ipv4", "ipv6") or f[2] not in L4_NAMES:
        raise Violation("nf_conntrack: unexpected line %r" % line)
    if not (f[1].isdigit() and f[3].isdigit() and f[4].lstrip("-").isdigit()):
        raise Violation("nf_conntrack: unexpected numbers in %r" % line)
    if f[2] == "tcp" and f[5] not in TCP_NAMES:
        raise Violation("nf_conntrack: TCP state %r not one of the kernel's: %r" % (f[5], line))
    if f[2] == "sctp" and f[5] not in SCTP_NAMES:
        raise Violation("nf_conntrack: SCTP state %r not one of the kernel's: %r" % (f[5], line))
    if "src=" not in line or not re.search(r" use=\d+$", line):
        raise Violation("nf_conntrack: unexpected line %r" % line)
    return f[2], f[5] if f[2] in ("tcp", "sctp") else None


def check_exp_line(line):
    """A line of /proc/net/nf_conntrack_expect (exp_seq_show)."""
    if not PRINTABLE.match(line):
        raise Violation("nf_conntrack_expect: unprintable line %r" % line)
    m = re.match(r"^-?\d+ l3proto = \d+ proto=\d+ (.*)$", line)
    if not m:
        raise Violation("nf_conntrack_expect: unexpected line %r" % line)
    tail = m.group(1).split()
    # after the tuple: [PERMANENT,INACTIVE,USERSPACE] [helper[/class]]
    for tok in tail:
        if "=" in tok:
            continue
        if all(x in ("PERMANENT", "INACTIVE", "USERSPACE") for x in tok.split(",")):
            continue
        name, _, cls = tok.partition("/")
        if name not in HELPERS:
            raise Violation("nf_conntrack_expect: helper %r not a kernel helper: %r" % (name, line))
        if cls and cls not in CLASS_NAMES:
            raise Violation("nf_conntrack_expect: class name %r unknown: %r" % (cls, line))


def run_cmd(argv, timeout=300):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


# ---------------------------------------------------------------- fuzzer

RES_KEYS = ["restored", "existing", "failed", "expects", "fail_nomem", "fail_nospc",
            "fail_helper", "fail_nat", "fail_inval", "fail_other", "fail_expect"]


class SemFuzz:
    def __init__(self, a):
        self.a = a
        self.r = random.Random(a.seed)
        self.gen = Gen(self.r, not a.no_assign_helper)
        self.fam, _ = resolve_family()
        self.sock = NlSock()
        self.ct = NlSock(NETLINK_NETFILTER)
        self.seq = 0
        self.next_id = 1
        self.tot = dict.fromkeys(RES_KEYS, 0)
        self.c = {"records": 0, "loads": 0, "conns": 0, "rounds": 0, "ct_seen": 0,
                  "exp_seen": 0, "views": 0, "shows": 0, "packets": 0, "tcp_states": 0,
                  "sctp_states": 0}
        self.states = {}
        self.events = 0
        self.pk = Packets(self.r)
        self.last_conns = []
        self.extack = ""
        self.violations = []

    def nseq(self):
        self.seq += 1
        return self.seq

    def request(self, sock, typ, payload):
        """errno of a request; its extack message in self.extack."""
        seq = self.nseq()
        sock.send(nlmsg(typ, F_REQUEST | F_ACK, seq, payload))
        while True:
            for t, fl, s, p in split_msgs(sock.recv()):
                if s == seq and t == NLMSG_ERROR:
                    # error, the request's header (NETLINK_CAP_ACK), TLVs:
                    # NLMSGERR_ATTR_MSG 1, NLMSGERR_ATTR_OFFS 2
                    tlv = parse_last(p[20:])
                    self.extack = tlv.get(1, b"").rstrip(b"\0").decode("ascii", "replace")
                    if 2 in tlv and len(tlv[2]) == 4:
                        self.extack += " (at offset %d)" % struct.unpack("<I", tlv[2])[0]
                    return err_of(p)

    def load(self, recs):
        """One LOAD of [(id, layer, payload)]; every record is shape-valid."""
        body = b"".join(rec_attr(cid, layer, p) for cid, layer, p in recs)
        err = self.request(self.sock, self.fam, genlhdr(CMD_LOAD) + body)
        if err:
            bad = [(cid, layer, p.hex()) for cid, layer, p in recs]
            raise Violation("LOAD of shape-valid records refused: %s, \"%s\"; records %r"
                            % (os.strerror(err), self.extack, bad))
        self.c["loads"] += 1
        self.c["records"] += len(recs)

    def ct_flush(self):
        for typ in (0x202, 0x102):      # EXP_DELETE, CT_DELETE: all
            e = self.request(self.ct, typ, struct.pack("<BBH", 0, 0, 0))
            if e:
                raise Violation("ctnetlink flush: %s" % os.strerror(e))
        deadline = time.monotonic() + 30
        while self.ct_count():
            if time.monotonic() > deadline:
                raise Violation("%d conntracks left 30 s after a flush" % self.ct_count())
            time.sleep(0.1)

    @staticmethod
    def ct_count():
        with open("/proc/sys/net/netfilter/nf_conntrack_count") as f:
            return int(f.read())

    def restore(self):
        rc, out, err = run_cmd([self.a.ckptctl, "restore", "--json"])
        if rc:
            raise Violation("ckptctl restore --json: exit %d: %s%s" % (rc, out, err))
        try:
            res = json.loads(out)
        except ValueError:
            raise Violation("ckptctl restore --json: not JSON: %r" % out)
        fails = sum(res.get(k, 0) for k in RES_KEYS if k.startswith("fail_"))
        if res.get("failed") != fails:
            raise Violation("restore: failed %s != sum of the reasons %d: %r"
                            % (res.get("failed"), fails, res))
        for k in RES_KEYS:
            self.tot[k] += res.get(k, 0)
        return res

    def round(self, nconns, views):
        r = self.r
        # conntracks first: nf_ckpt_ct records the live ones (the last
        # round's packets made some), and must find none to record once
        # the store is empty
        self.ct_flush()
        self.request(self.sock, self.fam, genlhdr(CMD_FLUSH))
        conns, recs, prev = [], [], None
        for _ in range(nconns):
            cid = self.next_id
            self.next_id += 1 if r.random() < 0.95 else r.randint(2, 1 << 20)
            master = None
            x = r.random()
            if prev is not None and x < 0.12:
                master = prev
            elif x < 0.14:
                master = r.choice([cid, cid + 1, 1 << 40])
            crecs, desc = self.gen.conn(master)
            desc["id"] = cid
            desc["recs"] = crecs
            conns.append(desc)
            recs += [(cid, layer, p) for layer, p in crecs]
            if any(layer == L_HELPER for layer, _ in crecs):
                prev = cid
        # LOADs of a few dozen records each (as a file would come)
        i = 0
        while i < len(recs):
            n = r.choice([1, 8, 32, 64])
            self.load(recs[i:i + n])
            i += n
        self.c["conns"] += nconns
        res = self.restore()
        # failed counts expectations too (fail_expect)
        if res["restored"] + res["existing"] + res["failed"] - res["fail_expect"] > nconns:
            raise Violation("restore of %d connections: restored %d + existing %d + failed %d "
                            "(%d of them expectations)" % (nconns, res["restored"], res["existing"],
                                                           res["failed"], res["fail_expect"]))
        # /proc views, before any packet
        lines = read_proc("/proc/net/nf_conntrack")
        for line in lines:
            try:
                l4, st = check_ct_line(line)
            except Violation as e:
                raise Violation("%s; %s" % (e, self.culprits(line, conns)))
            if st:
                self.states[(l4, st)] = self.states.get((l4, st), 0) + 1
        if len(lines) > res["restored"]:
            raise Violation("%d conntracks in /proc/net/nf_conntrack, %d restored: %r"
                            % (len(lines), res["restored"], lines[:5]))
        elines = read_proc("/proc/net/nf_conntrack_expect")
        for line in elines:
            try:
                check_exp_line(line)
            except Violation as e:
                raise Violation("%s; %s" % (e, self.exp_culprits(line, conns)))
        if len(elines) > res["expects"]:
            raise Violation("%d expectations in /proc, %d restored" % (len(elines), res["expects"]))
        self.c["ct_seen"] += len(lines)
        self.c["exp_seen"] += len(elines)
        if views:
            self.views(len(lines), len(elines), conns)
        self.packets(conns)
        self.last_conns = conns
        # and /proc again, now that packets went through the flows
        for line in read_proc("/proc/net/nf_conntrack"):
            check_ct_line(line)
        for line in read_proc("/proc/net/nf_conntrack_expect"):
            check_exp_line(line)
        self.c["rounds"] += 1

    @staticmethod
    def culprits(line, conns):
        """The loaded connections whose original tuple the line shows."""
        m = re.search(r"src=(\S+) dst=(\S+)(?: sport=(\d+) dport=(\d+))?", line)
        if not m:
            return "no tuple in the line"
        try:
            fam = socket.AF_INET6 if ":" in m.group(1) else socket.AF_INET
            want = [socket.inet_pton(fam, m.group(1)), socket.inet_pton(fam, m.group(2))]
        except OSError:
            return "no tuple in the line"
        out = []
        for d in conns:
            src, dst, sp, dp = d["t"][:4]
            if [src, dst] == want and (m.group(3) is None or
                                                 (int(m.group(3)), int(m.group(4))) == (sp, dp)):
                out.append("ID %d: %s" % (d["id"], " ".join("layer %d %s" % (layer, p.hex())
                                                            for layer, p in d["recs"])))
        return "records: " + ("; ".join(out) if out else "none found")

    @staticmethod
    def exp_culprits(line, conns):
        """The loaded connections with an EXPECT layer holding the line's
        addresses."""
        m = re.search(r"src=(\S+) dst=(\S+)", line)
        if not m:
            return "no tuple in the line"
        try:
            fam = socket.AF_INET6 if ":" in m.group(1) else socket.AF_INET
            a = [socket.inet_pton(fam, x) for x in m.groups()]
        except OSError:
            return "no tuple in the line"
        out = []
        for d in conns:
            for layer, p in d["recs"]:
                if layer == L_EXPECT and a[0] in p and a[1] in p:
                    out.append("ID %d: %s" % (d["id"], " ".join("layer %d %s" % (lr, q.hex())
                                                                for lr, q in d["recs"])))
        return "records: " + ("; ".join(out[:3]) if out else "none found")

    def views(self, nct, nexp, conns):
        r = self.r
        self.c["views"] += 1
        rc, out, err = run_cmd(["conntrack", "-L", "-o", "extended"])
        if rc:
            raise Violation("conntrack -L -o extended: exit %d: %s" % (rc, err))
        got = [line for line in out.split("\n") if line]
        for line in got:
            if not PRINTABLE.match(line) or "src=" not in line:
                raise Violation("conntrack -L: unexpected line %r" % line)
        if len(got) > nct:
            raise Violation("conntrack -L shows %d entries, /proc %d just before" % (len(got), nct))
        rc, out, err = run_cmd(["conntrack", "-L", "expect"])
        if rc:
            raise Violation("conntrack -L expect: exit %d: %s" % (rc, err))
        got = [line for line in out.split("\n") if line]
        for line in got:
            if not PRINTABLE.match(line):
                raise Violation("conntrack -L expect: unprintable line %r" % line)
        if len(got) > nexp:
            raise Violation("conntrack -L expect shows %d, /proc %d just before" % (len(got), nexp))
        rc, out, err = run_cmd([self.a.ckptctl, "list"])
        if rc:
            raise Violation("ckptctl list: exit %d: %s" % (rc, err))
        ids = [line.split()[0] for line in out.split("\n") if line.startswith("id=")]
        if len(ids) > len(conns) or len(ids) != len(set(ids)):
            raise Violation("ckptctl list: %d lines (%d distinct), %d connections loaded"
                            % (len(ids), len(set(ids)), len(conns)))
        for cid in r.sample(ids, min(len(ids), 4)):
            for extra in ([], ["--json"]):
                rc, out, err = run_cmd([self.a.ckptctl] + extra + ["show", str(int(cid[5:], 16))])
                if rc:
                    raise Violation("ckptctl show %s: exit %d: %s" % (cid, rc, err))
                if extra:
                    try:
                        json.loads(out)
                    except ValueError:
                        raise Violation("ckptctl --json show %s: not JSON: %r" % (cid, out[:300]))
                self.c["shows"] += 1

    def packets(self, conns):
        r = self.r
        n = 0
        for d in conns:
            if not d["lo"] or n >= self.a.packets_per_round:
                continue
            src, dst, sp, dp, itype, icode, iid = d["t"]
            for _ in range(r.choice([1, 2, 3])):
                if r.random() < 0.6:
                    self.pk.send(d["proto"], src, dst, sp, dp, itype, icode, iid)
                else:
                    self.pk.send(d["proto"], dst, src, dp, sp, ICMP_INVERSE.get(itype, itype),
                                 icode, iid)
                n += 1
        self.c["packets"] = self.pk.sent

    def run(self):
        t0 = time.monotonic()
        rounds = 0
        while self.c["records"] < self.a.records:
            rounds += 1
            try:
                self.round(self.a.conns_per_round, rounds % self.a.views_every == 1 or
                           self.a.views_every == 1)
            except Violation as e:
                # go on (a fresh round) to see what else is wrong, up to a point
                self.violations.append("round %d: %s" % (rounds, e))
                print("# VIOLATION in round %d: %s" % (rounds, e), flush=True)
                if len(self.violations) >= self.a.max_violations:
                    raise Violation("%d violations, stopped" % len(self.violations))
            if self.a.progress and rounds % 20 == 0:
                print("# %d rounds, %d records, %.0f s" % (rounds, self.c["records"],
                                                           time.monotonic() - t0), flush=True)
        if self.violations:
            raise Violation("%d violations" % len(self.violations))
        if self.a.hold:
            self.hold(self.a.hold)
        self.ct_flush()
        self.request(self.sock, self.fam, genlhdr(CMD_FLUSH))
        return time.monotonic() - t0


    def helper_views(self):
        """(conntracks, with a helper, expectations) as ctnetlink shows them."""
        rc, out, err = run_cmd(["conntrack", "-L", "-o", "extended"])
        if rc:
            raise Violation("conntrack -L -o extended: exit %d: %s" % (rc, err))
        lines = [x for x in out.split("\n") if x]
        rc, eout, err = run_cmd(["conntrack", "-L", "expect"])
        if rc:
            raise Violation("conntrack -L expect: exit %d: %s" % (rc, err))
        return len(lines), sum(1 for x in lines if " helper=" in x), \
            len([x for x in eout.split("\n") if x])

    def hold(self, d):
        """Keep the last round until the host has unloaded the helpers
        (DIR/release appears), then read every view again."""
        os.makedirs(d, exist_ok=True)
        n, nh, ne = self.helper_views()
        with open(os.path.join(d, "held.tmp"), "w") as f:
            f.write("%d conntracks (%d with a helper), %d expectations\n" % (n, nh, ne))
        os.rename(os.path.join(d, "held.tmp"), os.path.join(d, "held"))
        deadline = time.monotonic() + 3600
        while not os.path.exists(os.path.join(d, "release")):
            if time.monotonic() > deadline:
                raise Violation("not released within an hour")
            time.sleep(0.2)
        for line in read_proc("/proc/net/nf_conntrack"):
            check_ct_line(line)
        for line in read_proc("/proc/net/nf_conntrack_expect"):
            check_exp_line(line)
        n2, nh2, ne2 = self.helper_views()
        print("# held: %d conntracks (%d with a helper), %d expectations; once the host "
              "unloaded the helpers: %d (%d), %d" % (n, nh, ne, n2, nh2, ne2), flush=True)
        self.packets(self.last_conns)


def setup_netns(nft):
    """lo up, and a ruleset that needs conntrack (its hooks in this netns)."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    if nft:
        subprocess.run(["nft", "-f", "-"], check=True, input=b"""
table inet semfuzz {
	chain out { type filter hook output priority 0; ct state invalid counter; ct state established counter; }
	chain in { type filter hook input priority 0; ct state invalid counter; ct state established counter; }
}
""")


def cmd_run(argv):
    p = argparse.ArgumentParser(prog="nf_ckpt_semfuzz.py run")
    p.add_argument("--ckptctl", required=True)
    p.add_argument("--records", type=int, default=3000)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--conns-per-round", type=int, default=120)
    p.add_argument("--views-every", type=int, default=4)
    p.add_argument("--packets-per-round", type=int, default=60)
    p.add_argument("--events", help="file conntrack -E writes to (started here)")
    p.add_argument("--tag", default="-")
    p.add_argument("--hold", help="directory: keep the last round until DIR/release exists")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--max-violations", type=int, default=6,
                   help="stop after this many rounds with a violation")
    p.add_argument("--no-assign-helper", action="store_true",
                   help="no NF_CKPT_EXP_A_ASSIGN_HELPER (a store from before it)")
    a = p.parse_args(argv)
    if a.seed is None:
        a.seed = int.from_bytes(os.urandom(4), "little")
    print("# seed %d (reproduce: nf_ckpt_semfuzz.py run --seed %d --records %d "
          "--conns-per-round %d, same modules loaded)"
          % (a.seed, a.seed, a.records, a.conns_per_round), flush=True)
    try:
        setup_netns(True)
        f = SemFuzz(a)
    except (OSError, subprocess.CalledProcessError) as e:
        print("# setup: %s" % e)
        return 2
    ev = None
    if a.events:
        evf = open(a.events, "wb")
        ev = subprocess.Popen(["conntrack", "-E", "-o", "extended"], stdout=evf,
                              stderr=subprocess.STDOUT)
        time.sleep(0.5)
    rc, secs = 0, None
    try:
        secs = f.run()
    except Violation as e:
        print("# VIOLATION: %s" % e, flush=True)
        rc = 1
    if ev:
        alive = ev.poll() is None
        ev.terminate()
        ev.wait()
        evf.close()
        with open(a.events, "rb") as fh:
            evlines = fh.read().split(b"\n")
        f.events = sum(1 for x in evlines if x.startswith(b"[") or b"src=" in x)
        if not alive and rc == 0:
            print("# VIOLATION: conntrack -E exited during the run: %r" % evlines[-3:])
            rc = 1
    st = " ".join("%s:%d" % (k[0] + "/" + k[1], v) for k, v in sorted(f.states.items()))
    print("# states seen in /proc/net/nf_conntrack: %s" % (st or "-"))
    print("# views: %d rounds with conntrack -L, -L expect, ckptctl list; %d ckptctl show; "
          "packets %d sent, %d refused by the stack" % (f.c["views"], f.c["shows"],
                                                       f.pk.sent, f.pk.errors))
    print("summary tag=%s seed=%d records=%d loads=%d conns=%d rounds=%d %s ct_seen=%d "
          "exp_seen=%d packets=%d events=%d seconds=%s result=%s"
          % (a.tag, a.seed, f.c["records"], f.c["loads"], f.c["conns"], f.c["rounds"],
             " ".join("%s=%d" % (k, f.tot[k]) for k in RES_KEYS), f.c["ct_seen"],
             f.c["exp_seen"], f.pk.sent, f.events, "%.1f" % secs if secs else "-",
             "ok" if rc == 0 else "violation"), flush=True)
    return rc


def main():
    if len(sys.argv) < 2 or sys.argv[1] != "run":
        print(__doc__, file=sys.stderr)
        return 2
    return cmd_run(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
