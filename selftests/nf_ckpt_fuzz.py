#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Fuzzer for the nf_ckpt generic-netlink family (python3 stdlib only).

  nf_ckpt_fuzz.py fuzz --mode priv|unpriv|restore [--seed S] [--count N]
                       [--corpus N] [--progress]

Raw AF_NETLINK/NETLINK_GENERIC sockets.  A seeded PRNG (the seed is printed
first: `--seed` reproduces a run) builds requests of every command, valid
and mutated: random command numbers (unknown ones too), random nlmsg flags
(NLM_F_DUMP, ACK, ECHO, bogus bits, no NLM_F_REQUEST), random genl header
fields, wrong nlmsg_len, several messages in one datagram; attributes of
random types, wrong and truncated lengths, bad nla_len, zero-length and
huge payloads, deep nesting, nests where flat attributes belong and the
other way round; mutations of the real records of a dump; dumps read
halfway and abandoned (socket closed), several concurrent dumps, a
listener on the events group.

Every batch of fuzz datagrams is followed by a sentinel request (an
unknown command with NLM_F_ACK) on the same socket, so that the outcome of
each message is known by its sequence number even when it asked for no
ACK.  What the kernel handled is worked out as netlink_rcv_skb() does it.

Modes (exit 0: no violation, 1: violation, 2: setup error):
  priv     root, in a netns holding records.  The records are dumped first
           and kept as a model; every message the kernel accepted (FORGET,
           FLUSH, LOAD) is applied to the model from the bytes sent; every
           GET answer, STATUS (record and ID counts) and, at the end, a dump
           must equal the model (records with an expiry may have gone).
           Completed dumps must be well-formed and in (ID, layer) order.
  unpriv   without CAP_NET_ADMIN over the netns: no request may be
           accepted (the caller compares the store before and after).
  restore  root, nf_ckpt_ct loaded, an empty netns: LOADs of records with
           well-formed shapes and random meaning (families, protocols,
           tuples, status bits, NAT, masters, helpers, expectations),
           RESTORE and dry runs, ctnetlink flushes; every record left must
           be one the model has, every RESTORE answer consistent.
The last line is a summary: "summary mode=... seed=... messages=N
datagrams=D rate=R/s accepted=A ...".

  nf_ckpt_fuzz.py same-records FILE1 FILE2
      Exit 0 if two ckptctl save files hold the same records (ID, layer,
      payload; ages and lifetimes aside) and are not empty.
"""
import argparse
import copy
import errno
import os
import random
import socket
import struct
import sys
import time

SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
SO_RCVBUFFORCE = 33
NETLINK_GENERIC = 16
NETLINK_NETFILTER = 12

NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4
F_REQUEST, F_MULTI, F_ACK, F_ECHO = 0x1, 0x2, 0x4, 0x8
F_ROOT, F_MATCH, F_ATOMIC, F_DUMP = 0x100, 0x200, 0x400, 0x300
F_APPEND = 0x800
NLA_F_NESTED, NLA_F_BYTEORDER = 0x8000, 0x4000
TYPE_MASK = 0x3fff

GENL_ID_CTRL, CTRL_CMD_GETFAMILY = 0x10, 3
CTRL_A_FAMILY_ID, CTRL_A_FAMILY_NAME, CTRL_A_MCAST_GROUPS = 1, 2, 7

# uapi/linux/nf_ckpt.h
CMD_STATUS, CMD_GET, CMD_FORGET, CMD_FLUSH = 1, 2, 3, 4
CMD_LOAD, CMD_RESTORE, CMD_PUT, CMD_DEL = 5, 6, 7, 8
A_PAD, A_ID, A_LAYER, A_FLAGS, A_RECORD, A_STATUS, A_RESTORE = 1, 2, 3, 4, 5, 6, 7
A_MAX = 7
REC_PAD, REC_ID, REC_LAYER, REC_AGE, REC_EXPIRES, REC_PAYLOAD = 1, 2, 3, 4, 5, 6
L_BASE, L_L4, L_HELPER, L_SEQADJ, L_EXPECT = 1, 2, 3, 4, 5
LOAD_F_EXCL, RESTORE_F_DRY_RUN = 1, 1
B_FAMILY, B_PROTO, B_ZONE, B_ZONE_DIR, B_TUPLE_ORIG, B_TUPLE_REPLY = 2, 3, 4, 5, 6, 7
B_STATUS, B_MARK, B_LABELS, B_TIMEOUT, B_NAT_SRC, B_NAT_DST, B_MASTER = \
    8, 9, 10, 11, 12, 13, 14
T_SRC, T_DST, T_SPORT, T_DPORT, T_ICMP_ID, T_ICMP_TYPE, T_ICMP_CODE = 1, 2, 3, 4, 5, 6, 7
NAT_ADDR, NAT_PORT = 1, 2
L4_TCP, L4_SCTP, L4_UDP = 1, 2, 3
TCP_STATE, TCP_ORIG, TCP_REPLY = 1, 2, 3
W_END, W_MAXEND, W_MAXWIN, W_MAXACK, W_WSCALE, W_FLAGS = 1, 2, 3, 4, 5, 6
H_NAME, H_DATA = 1, 2
SEQ_ORIG, SEQ_REPLY, SEQ_POS, SEQ_BEFORE, SEQ_AFTER = 1, 2, 1, 2, 3
EXP_ITEM = 1
E_TUPLE, E_MASK, E_CLASS, E_FLAGS, E_HELPER, E_FN, E_TIMEOUT = 2, 3, 4, 5, 6, 7, 8
E_DIR, E_SADDR, E_SPORT, E_PROTO = 9, 10, 11, 12
RES_RESTORED, RES_FAILED, RES_MAX = 1, 3, 11
RES_FAIL_FIRST = 5          # FAIL_NOMEM .. FAIL_EXPECT: 5..11

SENTINEL_CMD = 0xfe
SEQ_SENTINEL = 0x7e5e0000
RECV_TIMEOUT = 120.0        # a wedged kernel, not a slow one


class Violation(Exception):
    pass


# ---------------------------------------------------------------- netlink

def nla(t, data):
    n = 4 + len(data)
    return struct.pack("<HH", n & 0xffff, t & 0xffff) + data + b"\0" * ((4 - n % 4) % 4)


def u8(t, v):
    return nla(t, struct.pack("<B", v & 0xff))


def u16(t, v):
    return nla(t, struct.pack("<H", v & 0xffff))


def be16(t, v):
    return nla(t, struct.pack(">H", v & 0xffff))


def u32(t, v):
    return nla(t, struct.pack("<I", v & 0xffffffff))


def u64(t, v):
    return nla(t, struct.pack("<Q", v & 0xffffffffffffffff))


def nest(t, *parts):
    return nla(t | NLA_F_NESTED, b"".join(parts))


def attrs_of(data):
    """(type with flags, value) of each attribute, as nla_for_each_attr."""
    off, out = 0, []
    while off + 4 <= len(data):
        n, t = struct.unpack_from("<HH", data, off)
        if n < 4 or off + n > len(data):
            break
        out.append((t, data[off + 4:off + n]))
        off += (n + 3) & ~3
    return out


def parse_last(data):
    """nla_parse(): the last attribute of each type wins."""
    tb = {}
    for t, v in attrs_of(data):
        tb[t & TYPE_MASK] = v
    return tb


def nlmsg(typ, flags, seq, payload, length=None):
    n = 16 + len(payload) if length is None else length
    return struct.pack("<IHHII", n & 0xffffffff, typ & 0xffff, flags & 0xffff,
                       seq, 0) + payload


def genlhdr(cmd, version=1, reserved=0):
    return struct.pack("<BBH", cmd & 0xff, version & 0xff, reserved & 0xffff)


def split_msgs(data):
    """Messages of a received datagram: (type, flags, seq, payload)."""
    off, out = 0, []
    while off + 16 <= len(data):
        n, t, fl, seq, _ = struct.unpack_from("<IHHII", data, off)
        if n < 16 or off + n > len(data):
            break
        out.append((t, fl, seq, data[off + 16:off + n]))
        off += (n + 3) & ~3
    return out


def handled_msgs(dgram):
    """What netlink_rcv_skb() does with a datagram we send: a list of
    (seq, type, flags, payload, handled) for every message it looks at;
    handled: passed to the family's handler."""
    off, out = 0, []
    while len(dgram) - off >= 16:
        n, t, fl, seq, _ = struct.unpack_from("<IHHII", dgram, off)
        if n < 16 or len(dgram) - off < n:
            break
        handled = bool(fl & F_REQUEST) and t >= 16
        out.append((seq, t, fl, dgram[off + 16:off + n], handled))
        off += min((n + 3) & ~3, len(dgram) - off)
    return out


class NlSock:
    def __init__(self, proto=NETLINK_GENERIC, rcvbuf=1 << 21):
        self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)
        try:
            self.s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
        except OSError:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.bind((0, 0))
        self.s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        self.s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        self.s.settimeout(RECV_TIMEOUT)

    def send(self, data):
        self.s.send(data)

    def recv(self):
        try:
            return self.s.recv(1 << 17)
        except socket.timeout:
            raise Violation("no answer from the kernel in %d s" % RECV_TIMEOUT)

    def close(self):
        self.s.close()


def err_of(payload):
    return -struct.unpack_from("<i", payload)[0] if len(payload) >= 4 else -1


def resolve_family(name="nf_ckpt"):
    s = NlSock()
    s.send(nlmsg(GENL_ID_CTRL, F_REQUEST | F_ACK, 1,
                 genlhdr(CTRL_CMD_GETFAMILY) + nla(CTRL_A_FAMILY_NAME, name.encode() + b"\0")))
    fam, groups = None, {}
    while True:
        for t, fl, seq, p in split_msgs(s.recv()):
            if t == NLMSG_ERROR:
                e = err_of(p)
                s.close()
                if e:
                    raise OSError(e, "family %s: %s" % (name, os.strerror(e)))
                return fam, groups
            tb = parse_last(p[4:])
            fam = struct.unpack("<H", tb[CTRL_A_FAMILY_ID])[0]
            for _, g in attrs_of(tb.get(CTRL_A_MCAST_GROUPS, b"")):
                gt = parse_last(g)
                groups[gt[1].rstrip(b"\0").decode()] = struct.unpack("<I", gt[2])[0]


# ------------------------------------------------------------ attr trees
#
# A tree is a list of [type (with flags), value]; value is bytes or a list
# (a nest).  Parsed from real records, built by the generators, mutated,
# then serialized.

def to_tree(data, depth=0):
    out = []
    for t, v in attrs_of(data):
        if t & NLA_F_NESTED and depth < 8:
            out.append([t, to_tree(v, depth + 1)])
        else:
            out.append([t, v])
    return out


def ser(tree):
    return b"".join(nla(t, ser(v) if isinstance(v, list) else v) for t, v in tree)


def nodes(tree, depth=0):
    """(container, index, depth) of every node."""
    for i, (t, v) in enumerate(tree):
        yield tree, i, depth
        if isinstance(v, list):
            yield from nodes(v, depth + 1)


INT_SIZES = (0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 20)


def interesting_int(r, size):
    if size in (1, 2, 4, 8):
        bits = size * 8
        v = r.choice([0, 1, 2, 3, 4, 5, 6, 7, 0x7f, 0x80, 0xff, 0x100, 0xffff,
                      (1 << (bits - 1)) - 1, 1 << (bits - 1), (1 << bits) - 1,
                      (1 << bits) - 2, r.getrandbits(bits)])
        fmt = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}[size]
        return struct.pack(fmt, v & ((1 << bits) - 1))
    return bytes(r.getrandbits(8) for _ in range(size))


def random_value(r):
    k = r.random()
    if k < 0.55:
        return interesting_int(r, r.choice(INT_SIZES))
    if k < 0.85:
        return bytes(r.getrandbits(8) for _ in range(r.randint(0, 64)))
    if k < 0.95:
        return b"\0" * r.randint(65, 700)
    return bytes([r.getrandbits(8)]) * r.randint(1000, 65000)


def random_type(r, t=None):
    k = r.random()
    if t is not None and k < 0.3:
        return (t & ~TYPE_MASK) | ((t + r.choice([-1, 1])) & TYPE_MASK)
    if k < 0.7:
        return r.randint(0, 16)
    if k < 0.85:
        return r.randint(0, TYPE_MASK)
    return r.randint(0, 0xffff)


def random_attr(r, depth=0):
    if depth < 3 and r.random() < 0.25:
        return [random_type(r) | NLA_F_NESTED,
                [random_attr(r, depth + 1) for _ in range(r.randint(0, 4))]]
    return [random_type(r), random_value(r)]


def mutate_tree(r, tree):
    """One structural mutation, in place (tree must not be empty)."""
    allnodes = list(nodes(tree))
    if not allnodes:
        tree.append(random_attr(r))
        return "insert"
    cont, i, depth = r.choice(allnodes)
    t, v = cont[i]
    op = r.choice(["type", "flag", "value", "value", "int", "nestify", "flatten",
                   "dup", "del", "insert", "deep", "swap", "zero", "huge"])
    if op == "type":
        cont[i][0] = random_type(r, t)
    elif op == "flag":
        cont[i][0] = t ^ r.choice([NLA_F_NESTED, NLA_F_BYTEORDER])
    elif op == "value":
        cont[i][1] = random_value(r)
    elif op == "int":
        size = len(v) if isinstance(v, bytes) and len(v) in (1, 2, 4, 8) else r.choice([1, 2, 4, 8])
        cont[i][1] = interesting_int(r, size)
    elif op == "nestify":
        cont[i] = [t | NLA_F_NESTED, [random_attr(r) for _ in range(r.randint(0, 3))]
                   if r.random() < 0.5 else [[r.randint(0, 16), v if isinstance(v, bytes) else ser(v)]]]
    elif op == "flatten":
        cont[i] = [t & ~NLA_F_NESTED if r.random() < 0.7 else t,
                   ser(v) if isinstance(v, list) else v]
    elif op == "dup":
        cont.insert(i, copy.deepcopy(cont[i]))
    elif op == "del":
        del cont[i]
    elif op == "insert":
        cont.insert(i, random_attr(r))
    elif op == "deep":
        node = cont[i]
        for _ in range(r.choice([2, 5, 12, 40])):
            node = [r.randint(0, 16) | NLA_F_NESTED, [node]]
        cont[i] = node
    elif op == "swap":
        r.shuffle(cont)
    elif op == "zero":
        cont[i][1] = b"" if isinstance(v, bytes) or r.random() < 0.5 else []
    elif op == "huge":
        cont[i][1] = bytes(r.randint(1, 255) for _ in range(8)) * r.randint(100, 8000)
    return op


def attr_offsets(buf, base=0, depth=0, out=None):
    """Offsets of every attribute header in a serialized stream."""
    if out is None:
        out = []
    off = 0
    while off + 4 <= len(buf):
        n, t = struct.unpack_from("<HH", buf, off)
        if n < 4 or off + n > len(buf):
            break
        out.append(base + off)
        if t & NLA_F_NESTED and depth < 8:
            attr_offsets(buf[off + 4:off + n], base + off + 4, depth + 1, out)
        off += (n + 3) & ~3
    return out


def mutate_bytes(r, buf):
    """One byte-level mutation of a serialized attribute stream."""
    b = bytearray(buf)
    offs = attr_offsets(buf)
    op = r.choice(["nla_len", "nla_len", "truncate", "flip", "trail", "nla_type"])
    if op in ("nla_len", "nla_type") and offs:
        o = r.choice(offs)
        if op == "nla_len":
            n = struct.unpack_from("<H", b, o)[0]
            struct.pack_into("<H", b, o, r.choice([0, 1, 3, 4, 5, n - 1, n + 1, n + 4,
                                                   n + 100, 0xffff, r.getrandbits(16)]) & 0xffff)
        else:
            struct.pack_into("<H", b, o + 2, r.getrandbits(16))
    elif op == "truncate" and b:
        del b[r.randint(0, len(b) - 1):]
    elif op == "flip" and b:
        for _ in range(r.randint(1, 4)):
            b[r.randrange(len(b))] ^= 1 << r.randrange(8)
    else:
        b += bytes(r.getrandbits(8) for _ in range(r.randint(1, 7)))
    return bytes(b), op


# --------------------------------------------------------- record makers

def rec_attr(cid, layer, payload, expires=None, age=None, pad=False):
    parts = [u64(REC_ID, cid), u16(REC_LAYER, layer)]
    if age is not None:
        parts.append(u64(REC_AGE, age))
    if expires is not None:
        parts.append(u64(REC_EXPIRES, expires))
    if pad:
        parts.append(nla(REC_PAD, b""))
    parts.append(nla(REC_PAYLOAD | NLA_F_NESTED, payload))
    return nest(A_RECORD, *parts)


class Gen:
    """Records with well-formed shapes and random meaning (restore mode),
    and the seed records of the other modes."""

    # Helpers by protocol: a name the kernel cannot find for the protocol
    # makes each restore call request_module() (a modprobe, a second or so
    # under TCG), so mismatches are rare.
    HELPERS = {6: ["ftp", "ftp", "sip", "irc"], 17: ["sip", "tftp"]}
    FNS = ["nat-follow-master", "nat-sip", "nat-callforwarding", "nat-rtp-rtcp",
           "no-such-fn"]

    def __init__(self, r):
        self.r = r

    def addr(self, family):
        r = self.r
        alen = 16 if family == 10 else 4
        if r.random() < 0.05:
            alen = 20 - alen            # the other family's length
        if alen == 4:
            return bytes([10, 9, r.randint(0, 3), r.randint(1, 4)])
        return bytes([0xfd, 0, 9, 9] + [0] * 10 + [r.randint(0, 3), r.randint(1, 4)])

    def tuple_(self, t, family, proto, src=None, dst=None, sp=None, dp=None):
        r = self.r
        src = src if src is not None else self.addr(family)
        dst = dst if dst is not None else self.addr(family)
        parts = [nla(T_SRC, src), nla(T_DST, dst)]
        if proto in (1, 58) or r.random() < 0.05:
            parts += [be16(T_ICMP_ID, r.randint(0, 3)), u8(T_ICMP_TYPE, r.choice([0, 8, 128, 129, r.randint(0, 255)])),
                      u8(T_ICMP_CODE, r.choice([0, 0, r.randint(0, 255)]))]
        if proto not in (1, 58) or r.random() < 0.05:
            parts += [be16(T_SPORT, sp if sp is not None else r.choice([21, 80, 5060, r.randint(0, 65535)])),
                      be16(T_DPORT, dp if dp is not None else r.choice([21, 80, 5060, r.randint(0, 65535)]))]
        if r.random() < 0.05:
            del parts[r.randrange(len(parts))]
        return nest(t, *parts), (src, dst, sp, dp)

    def base(self, master=None):
        r = self.r
        family = r.choice([2, 2, 2, 10, 10]) if r.random() < 0.97 else r.choice([0, 1, 3, 7, 12])
        proto = r.choice([6, 6, 6, 17, 17, 1, 58, 132, 136, 33, 47, r.randint(0, 255)])
        sp, dp = r.randint(1024, 1040), r.choice([21, 80, 5060, r.randint(1, 65535)])
        orig, (s, d, _, _) = self.tuple_(B_TUPLE_ORIG, family, proto, sp=sp, dp=dp)
        if r.random() < 0.75:
            reply, _ = self.tuple_(B_TUPLE_REPLY, family, proto, src=d, dst=s, sp=dp, dp=sp)
        else:
            reply, _ = self.tuple_(B_TUPLE_REPLY, family, proto)
        parts = [u8(B_FAMILY, family), u8(B_PROTO, proto), orig, reply]
        if r.random() < 0.3:
            parts.append(u16(B_ZONE, r.choice([0, 1, 2, 65535])))
        if r.random() < 0.2:
            parts.append(u8(B_ZONE_DIR, r.randint(0, 3)))
        parts.append(u32(B_STATUS, r.choice([0x0e, 0x0e, 0x0a, 0, r.getrandbits(32)])))
        if r.random() < 0.5:
            parts.append(u32(B_MARK, r.getrandbits(32)))
        if r.random() < 0.3:
            parts.append(nla(B_LABELS, bytes(r.getrandbits(8) for _ in range(16))))
        if r.random() < 0.95:
            parts.append(u64(B_TIMEOUT, r.choice([432000000, 432000000, 120000, 1, 0,
                                                  (1 << 64) - 1, r.getrandbits(40)])))
        for t in (B_NAT_SRC, B_NAT_DST):
            if r.random() < 0.12:
                parts.append(nest(t, nla(NAT_ADDR, self.addr(family)),
                                  be16(NAT_PORT, r.choice([sp, dp, r.randint(0, 65535)]))))
        if master is not None:
            parts.append(u64(B_MASTER, master))
        r.shuffle(parts)
        return b"".join(parts), proto

    def tcpw(self, t):
        r = self.r
        parts = [u32(W_END, r.getrandbits(32)), u32(W_MAXEND, r.getrandbits(32)),
                 u32(W_MAXWIN, r.getrandbits(32)), u32(W_MAXACK, r.getrandbits(32)),
                 u8(W_WSCALE, r.randint(0, 14)), u8(W_FLAGS, r.getrandbits(8))]
        return nest(t, *r.sample(parts, r.randint(0, len(parts))))

    def l4(self, proto):
        r = self.r
        kind = {6: L4_TCP, 132: L4_SCTP, 17: L4_UDP}.get(proto, r.choice([L4_TCP, L4_SCTP, L4_UDP]))
        if r.random() < 0.1:
            kind = r.choice([L4_TCP, L4_SCTP, L4_UDP])
        if kind == L4_TCP:
            parts = [u8(TCP_STATE, r.choice([3, 3, r.randint(0, 9)])), self.tcpw(TCP_ORIG), self.tcpw(TCP_REPLY),
                     u8(4, r.randint(0, 1)), u8(5, r.getrandbits(8)), u8(6, r.randint(0, 5)),
                     u32(7, r.getrandbits(32)), u32(8, r.getrandbits(32)), u32(9, r.getrandbits(32)),
                     u16(10, r.getrandbits(16)), u8(11, r.randint(0, 14)), u8(12, r.getrandbits(8))]
            if r.random() < 0.1:
                parts = parts[1:]
            return nest(L4_TCP, *parts)
        if kind == L4_SCTP:
            return nest(L4_SCTP, u8(1, r.randint(0, 9)), nla(2, os.urandom(4)), nla(3, os.urandom(4)),
                        u8(4, r.getrandbits(8)), u8(5, r.getrandbits(8)), u8(6, r.randint(0, 1)),
                        u8(7, r.getrandbits(8)))
        return nest(L4_UDP, *([nla(1, b"")] if r.random() < 0.5 else []))

    def helper_name(self, proto):
        r = self.r
        if r.random() < 0.003:
            return r.choice(["nfckpt-fuzz", "ftp", "tftp", "amanda"])
        return r.choice(self.HELPERS.get(proto, self.HELPERS[6]))

    def helper(self, proto):
        r = self.r
        name = self.helper_name(proto)
        parts = [nla(H_NAME, name.encode() + b"\0")]
        # private areas: ftp 24 bytes, sip 12, the others none
        n = {"ftp": 24, "sip": 12}.get(name)
        if r.random() < 0.15:
            n = r.choice([0, 1, 12, 16, 24, 32, r.randint(0, 32)])
        if n is not None:
            data = bytearray(r.getrandbits(8) for _ in range(n))
            if n == 24 and r.random() < 0.7:
                # a plausible nf_ct_ftp_master: nums <= 2, flags <= 1
                struct.pack_into("<HHHH", data, 16, r.randint(0, 2), r.randint(0, 2),
                                 r.randint(0, 1), r.randint(0, 1))
            parts.append(nla(H_DATA, bytes(data)))
        return b"".join(parts)

    def seqadj(self):
        r = self.r
        d = lambda t: nest(t, u32(SEQ_POS, r.getrandbits(32)), u32(SEQ_BEFORE, r.getrandbits(32)),
                           u32(SEQ_AFTER, r.getrandbits(32)))
        return b"".join(d(t) for t in (SEQ_ORIG, SEQ_REPLY) if r.random() < 0.8)

    def expect(self, family, proto):
        r = self.r
        items = []
        for _ in range(r.choice([1, 1, 2, 3])):
            p = proto if r.random() < 0.9 else r.choice([6, 17])
            tup, _ = self.tuple_(E_TUPLE, family, p)
            mask, _ = self.tuple_(E_MASK, family, p)
            parts = [tup, mask, u32(E_CLASS, 0 if r.random() < 0.8 else r.randint(0, 3)),
                     u32(E_FLAGS, r.choice([0, 0, r.randint(0, 7)])),
                     u64(E_TIMEOUT, r.choice([300000, 1, 0, (1 << 64) - 1, r.getrandbits(32)]))]
            if r.random() < 0.6:
                parts.append(nla(E_HELPER, self.helper_name(p).encode() + b"\0"))
            if r.random() < 0.5:
                parts.append(nla(E_FN, r.choice(self.FNS).encode() + b"\0"))
            if r.random() < 0.5:
                parts += [u8(E_DIR, r.randint(0, 1)), nla(E_SADDR, self.addr(family)),
                          be16(E_SPORT, r.getrandbits(16))]
            if r.random() < 0.3:
                parts.append(u8(E_PROTO, p))
            items.append(nest(EXP_ITEM, *parts))
        return b"".join(items)

    def conn(self, cid, master=None):
        """The records of one connection: [(layer, payload)]."""
        r = self.r
        b, proto = self.base(master)
        fam = parse_last(b).get(B_FAMILY, b"\2")[0]
        fam = fam if fam in (2, 10) else 2
        recs = [(L_BASE, b)]
        if r.random() < 0.85:
            recs.append((L_L4, self.l4(proto)))
        expect = r.random() < 0.25
        if (r.random() < 0.3 or expect) and (proto in self.HELPERS or r.random() < 0.01):
            recs.append((L_HELPER, self.helper(proto)))
        if r.random() < 0.15:
            recs.append((L_SEQADJ, self.seqadj()))
        if expect:
            recs.append((L_EXPECT, self.expect(fam, proto)))
        if r.random() < 0.05:
            recs.pop(0)                 # no BASE at all
        return recs


# ----------------------------------------------------------------- fuzzer
#
# Python under TCG is slow, so requests are built in two steps: a corpus of
# a few hundred messages made with the structural mutators above (slots are
# rebuilt all along), and for each send a corpus entry with a cheap byte
# mutation, other flags or a wrong nlmsg_len, under a fresh sequence number.

FLAG_TABLE = [F_REQUEST | F_ACK] * 9 + [F_REQUEST] * 3 + [
    F_REQUEST | F_DUMP, F_REQUEST | F_DUMP | F_ACK, F_REQUEST | F_ECHO,
    F_REQUEST | F_ACK | F_ECHO, F_REQUEST | F_ROOT, F_REQUEST | F_MATCH,
    F_REQUEST | F_ATOMIC, F_REQUEST | F_APPEND, F_REQUEST | F_MULTI,
    F_REQUEST | 0x10, F_REQUEST | 0x20, F_REQUEST | F_DUMP | F_ATOMIC,
    F_REQUEST | 0x1000, F_REQUEST | 0x8000, F_ACK, 0, F_DUMP, 0xffff, 0xfffe]
LEN_VALUES = [0xffffffff, 0x7fffffff, 0x10000]
NLA_LEN_VALUES = [b"\0\0", b"\1\0", b"\3\0", b"\4\0", b"\5\0", b"\xff\xff", b"\0\1",
                  b"\x0c\0", b"\x10\0", b"\x08\0"]
TAILS = [b"\0", b"\0\0\0", b"\4\0\0\0", b"\4\0\2\0", b"\x08\0\x05\x80\4\0\1\0",
         b"\xff\xff\xff\xff", b"\x05\0\x02\0\x01"]
CMD_NAMES = {CMD_STATUS: "status", CMD_GET: "get", CMD_FORGET: "forget",
             CMD_FLUSH: "flush", CMD_LOAD: "load", CMD_RESTORE: "restore"}


def dump_key(p):
    """(id, layer) of a GET answer in the kernel's layout, else None."""
    if len(p) >= 26 and p[0] == CMD_GET and p[6] == A_RECORD and \
            p[8:12] == b"\x0c\0\x02\0" and p[20:24] == b"\x06\0\x03\0":
        return struct.unpack_from("<Q", p, 12)[0], struct.unpack_from("<H", p, 24)[0]
    return None


class Fuzzer:
    BATCH = 4                   # fuzz datagrams per sentinel

    def __init__(self, args):
        self.args = args
        self.mode = args.mode
        self.r = random.Random(args.seed)
        self.gen = Gen(self.r)
        self.fam, self.groups = resolve_family()
        self.main = NlSock()
        self.seq = 0
        self.sent_msgs = 0          # fuzz messages (requests we built)
        self.datagrams = 0
        self.sentinels = 0
        self.accepted = {}
        self.errors = {}
        self.dumps = {"started": 0, "completed": 0, "abandoned": 0, "refused": 0,
                      "records": 0, "max_concurrent": 0, "main": 0}
        self.restores = {"runs": 0, "restored": 0, "failed": 0, "reasons": [0] * 12}
        self.events = 0
        self.dump_socks = []        # [sock, seq, last (id, layer)]
        self.model = {}             # (id, layer) -> payload
        self.uncertain = set()      # keys whose state is not known
        self.timed = set()          # keys loaded with an expiry
        self.missing_unknown = False  # records may have gone unseen
        self.seeds = []             # [(id, layer, payload)]
        self.ids = []
        self.corpus = []
        self.conns = []             # restore mode: [[(layer, payload)]]
        self.next_id = 1
        self.ct = None              # ctnetlink socket (restore mode)
        self.monitor = None
        self.status_checks = 0
        self.dump_timed = set()

    # -- helpers
    def next_seq(self):
        self.seq = (self.seq + 1) & 0x0fffffff or 1
        return self.seq

    def request(self, sock, cmd, attrs=b"", flags=F_REQUEST | F_ACK):
        """A plain request on sock: (errno, [payloads])."""
        seq = self.next_seq()
        sock.send(nlmsg(self.fam, flags, seq, genlhdr(cmd) + attrs))
        msgs = []
        while True:
            for t, fl, s, p in split_msgs(sock.recv()):
                if s != seq:
                    continue
                if t == NLMSG_ERROR:
                    return err_of(p), msgs
                if t == NLMSG_DONE:
                    return 0, msgs
                msgs.append(p)

    def dump_all(self):
        """Every record of the netns: {(id, layer): payload}, checked."""
        sock = NlSock()
        err, msgs = self.request(sock, CMD_GET, b"", F_REQUEST | F_DUMP)
        sock.close()
        if err:
            raise Violation("dump failed: %s" % os.strerror(err))
        recs, last = {}, None
        self.dump_timed = set()
        for p in msgs:
            for key, payload, timed in self.check_dump_msg(p):
                if last is not None and key <= last:
                    raise Violation("dump out of order: %r after %r" % (key, last))
                last = key
                recs[key] = payload
                if timed:
                    self.dump_timed.add(key)
        return recs

    def check_dump_msg(self, p):
        """The records of one GET answer, checked for shape."""
        if len(p) < 4 or p[0] != CMD_GET:
            raise Violation("GET answer with command %d" % (p[0] if p else -1))
        out = []
        for t, v in attrs_of(p[4:]):
            if t & TYPE_MASK != A_RECORD:
                raise Violation("GET answer with attribute %d" % t)
            tb = parse_last(v)
            if REC_ID not in tb or REC_LAYER not in tb or REC_PAYLOAD not in tb:
                raise Violation("record without ID, layer or payload")
            cid = struct.unpack("<Q", tb[REC_ID])[0]
            layer = struct.unpack("<H", tb[REC_LAYER])[0]
            if not cid or not 1 <= layer <= 5 or len(tb[REC_PAYLOAD]) > 4096:
                raise Violation("bad record %d/%d (%d bytes)" % (cid, layer, len(tb[REC_PAYLOAD])))
            out.append(((cid, layer), tb[REC_PAYLOAD], REC_EXPIRES in tb))
        return out

    def check_dump_order(self, msgs, last):
        """Records of a dump's messages in strictly increasing (ID, layer)."""
        n = 0
        for p in msgs:
            key = dump_key(p)
            keys = [key] if key else [k for k, _, _ in self.check_dump_msg(p)]
            for key in keys:
                if not key[0] or not 1 <= key[1] <= 5:
                    raise Violation("dump: bad record %r" % (key,))
                if last is not None and key <= last:
                    raise Violation("dump out of order: %r after %r" % (key, last))
                last = key
                n += 1
        return last, n

    # -- structural generation (the corpus)
    def pick_id(self):
        r = self.r
        k = r.random()
        if self.ids and k < 0.5:
            return r.choice(self.ids)
        if k < 0.8:
            return r.randint(1, 2000)
        if k < 0.9:
            return r.choice([0, 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1, (1 << 32), 0xffffffff])
        return r.getrandbits(64)

    def seed_record(self):
        """A record attribute made from a real (or generated) record."""
        r = self.r
        cid, layer, payload = r.choice(self.seeds)
        if r.random() < 0.5:
            cid = self.pick_id()
        if r.random() < 0.05:
            layer = r.choice([0, 6, 7, 0xffff, r.randint(0, 0xffff)])
        if r.random() < 0.45:
            tree = to_tree(payload)
            for _ in range(r.choice([1, 1, 1, 2, 3, 6])):
                mutate_tree(r, tree)
            payload = ser(tree)
        expires = None
        if r.random() < 0.08:
            expires = r.choice([0, 1, 50, 3000, (1 << 64) - 1])
        age = r.choice([None, None, None, 0, 1000, (1 << 64) - 1])
        rec = rec_attr(cid, layer, payload, expires, age, pad=r.random() < 0.05)
        if r.random() < 0.1:
            rtree = to_tree(rec)
            mutate_tree(r, rtree[0][1] if isinstance(rtree[0][1], list) and rtree[0][1] else rtree)
            rec = ser(rtree)
        return rec

    def build_attrs(self, cmd):
        r = self.r
        if cmd == CMD_LOAD:
            parts = []
            if r.random() < 0.3:
                parts.append(u32(A_FLAGS, r.choice([0, LOAD_F_EXCL, LOAD_F_EXCL, 2, r.getrandbits(32)])))
            n = r.choice([1, 1, 1, 2, 3, 4]) if r.random() < 0.98 else r.randint(10, 60)
            parts += [self.seed_record() for _ in range(n)]
            return b"".join(parts)
        if cmd in (CMD_GET, CMD_FORGET):
            parts = []
            if r.random() < 0.95:
                parts.append(u64(A_ID, self.pick_id()))
            if cmd == CMD_FORGET and r.random() < 0.4:
                parts.append(u16(A_LAYER, r.choice([1, 2, 3, 4, 5, 0, 6, 0xffff])))
            return b"".join(parts)
        if cmd == CMD_RESTORE:
            if r.random() < 0.7:
                return u32(A_FLAGS, r.choice([RESTORE_F_DRY_RUN, RESTORE_F_DRY_RUN, 0, 2, r.getrandbits(32)]))
            return b""
        return b""

    def pick_cmd(self):
        r = self.r
        # FLUSH is sent on its own (run()): from the corpus it would come
        # back again and again
        table = [(CMD_LOAD, 36), (CMD_GET, 16), (CMD_FORGET, 10), (CMD_STATUS, 8),
                 (CMD_RESTORE, 4), (CMD_FLUSH, 0.5), (None, 9)]
        x = r.uniform(0, sum(w for _, w in table))
        for cmd, w in table:
            x -= w
            if x <= 0:
                break
        if cmd is None:
            cmd = r.choice([0, CMD_PUT, CMD_DEL, 9, 10, 0x7f, 0x80, 0xff, r.randint(0, 255)])
        return cmd

    def build_entry(self):
        """A corpus entry: (nlmsg type, flags, genl payload)."""
        r = self.r
        cmd = self.pick_cmd()
        attrs = self.build_attrs(cmd if cmd in (CMD_LOAD, CMD_GET, CMD_FORGET, CMD_RESTORE)
                                 else r.choice([CMD_LOAD, CMD_GET, CMD_FORGET, CMD_RESTORE, None]))
        if cmd in (CMD_STATUS, CMD_FLUSH) and r.random() < 0.8:
            attrs = b""
        k = r.random()
        if attrs and k < 0.25:
            tree = to_tree(attrs)
            for _ in range(r.choice([1, 1, 2, 4])):
                mutate_tree(r, tree)
            attrs = ser(tree)
        elif attrs and k < 0.4:
            attrs, _ = mutate_bytes(r, attrs)
        elif k < 0.45:
            attrs = ser([random_attr(r) for _ in range(r.randint(0, 6))])
        if cmd == CMD_FLUSH and not attrs:
            cmd = CMD_STATUS            # a valid FLUSH is not corpus material
        flags = r.choice(FLAG_TABLE) if r.random() < 0.9 else r.getrandbits(16)
        typ = self.fam
        if r.random() < 0.04:
            typ = r.choice([NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN, 0, 15,
                            0xfff0, r.randint(0x8000, 0xffff)])
        hdr = genlhdr(cmd, 1 if r.random() < 0.85 else r.getrandbits(8),
                      0 if r.random() < 0.95 else r.getrandbits(16))
        if r.random() < 0.02:
            hdr = hdr[:r.randint(0, 3)]
        return typ, flags, hdr + attrs

    # -- the fast path
    def cheap_mutation(self, p):
        r = self.r
        n = len(p)
        k = r.random()
        pos = 4 + (int(r.random() * (n - 4)) & ~3) if n > 8 else 0
        if k < 0.25 and n:
            b = bytearray(p)
            i = int(r.random() * n)
            b[i] ^= 1 << (i & 7)
            return bytes(b)
        if k < 0.4:
            return p[:int(r.random() * n)]
        if k < 0.65:
            return p[:pos] + NLA_LEN_VALUES[int(r.random() * len(NLA_LEN_VALUES))] + p[pos + 2:]
        if k < 0.8:
            return p[:pos + 2] + bytes([int(r.random() * 256), int(r.random() * 256)]) + p[pos + 4:]
        if k < 0.9:
            return p + TAILS[int(r.random() * len(TAILS))]
        return p[:pos] + b"\4\0" + bytes([int(r.random() * 20), 0]) + p[pos:]

    def quick_msg(self):
        r = self.r
        corpus = self.corpus
        typ, flags, payload = corpus[int(r.random() * len(corpus))]
        k = r.random()
        if k < 0.3:
            payload = self.cheap_mutation(payload)
        elif k < 0.38:
            flags = FLAG_TABLE[int(r.random() * len(FLAG_TABLE))]
        length = None
        if k > 0.975:
            n = 16 + len(payload)
            length = [0, 8, 15, 16, 19, 20, n - 1, n - 4, n + 1, n + 4, n + 100,
                      LEN_VALUES[int(r.random() * 3)]][int(r.random() * 12)]
        return nlmsg(typ, flags, self.next_seq(), payload, length)

    def quick_dgram(self):
        r = self.r
        if r.random() < 0.03:
            self.corpus[int(r.random() * len(self.corpus))] = self.build_entry()
        m = self.quick_msg()
        if r.random() < 0.05:
            for _ in range(1 + int(r.random() * 3)):
                m += b"\0" * ((4 - len(m) % 4) % 4) + self.quick_msg()
            if r.random() < 0.3:
                m = m[:len(m) - int(r.random() * 40)]
        return m

    # -- restore mode
    def restore_dgram(self):
        r = self.r
        k = r.random()
        flags = F_REQUEST | F_ACK if k < 0.9 else F_REQUEST
        if k < 0.7:
            recs, prev = [], None
            for _ in range(1 + int(r.random() * 3)):
                cid = self.next_id
                self.next_id += 1
                master = None
                x = r.random()
                if prev is not None and x < 0.4:
                    master = prev
                elif self.ids and x < 0.5:
                    master = self.ids[int(r.random() * len(self.ids))]
                elif x < 0.52:
                    master = cid            # its own master
                for layer, p in self.conns[int(r.random() * len(self.conns))]:
                    if layer == L_BASE and master is not None:
                        p += u64(B_MASTER, master)
                    recs.append(rec_attr(cid, layer, p))
                prev = cid
                self.ids.append(cid)
            attrs = b"".join(recs)
            if r.random() < 0.05:
                attrs = self.cheap_mutation(b"\0\0\0\0" + attrs)[4:]
            return nlmsg(self.fam, flags, self.next_seq(), genlhdr(CMD_LOAD) + attrs)
        if k < 0.86:
            dry = r.random() < 0.3
            return nlmsg(self.fam, flags, self.next_seq(), genlhdr(CMD_RESTORE) +
                         (u32(A_FLAGS, RESTORE_F_DRY_RUN) if dry else b""))
        if k < 0.89:
            self.ids = []
            return nlmsg(self.fam, flags, self.next_seq(), genlhdr(CMD_FLUSH))
        if k < 0.93 and self.ids:
            return nlmsg(self.fam, flags, self.next_seq(), genlhdr(CMD_FORGET) +
                         u64(A_ID, self.ids[int(r.random() * len(self.ids))]))
        return self.quick_msg()

    # -- the exchange
    def exchange(self, dgrams):
        """Send fuzz datagrams, then a sentinel; returns (handled messages,
        {seq: outcome}, answers lost)."""
        hm = []
        for d in dgrams:
            self.datagrams += 1
            h = handled_msgs(d)
            self.sent_msgs += max(len(h), 1)
            try:
                self.main.send(d)
            except OSError as e:
                # refused by the socket layer (too big): genl saw nothing
                name = "send:" + errno.errorcode.get(e.errno, str(e.errno))
                self.errors[name] = self.errors.get(name, 0) + 1
                continue
            hm += h
        sseq = SEQ_SENTINEL | (self.sentinels & 0xffff)
        self.sentinels += 1
        self.main.send(nlmsg(self.fam, F_REQUEST | F_ACK, sseq, genlhdr(SENTINEL_CMD)))
        out, got, lost = {}, False, False
        open_dumps = set()
        while not got or open_dumps:
            try:
                data = self.main.recv()
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                lost = True
                continue
            for t, fl, seq, p in split_msgs(data):
                if seq == sseq and t == NLMSG_ERROR:
                    if err_of(p) != errno.EOPNOTSUPP:
                        raise Violation("sentinel answered %d" % err_of(p))
                    got = True
                    continue
                o = out.get(seq)
                if o is None:
                    o = out[seq] = [None, False, []]     # err, done, data
                if t == NLMSG_ERROR:
                    o[0] = err_of(p)
                    open_dumps.discard(seq)
                elif t == NLMSG_DONE:
                    o[1] = True
                    open_dumps.discard(seq)
                else:
                    o[2].append(p)
                    if fl & F_MULTI:
                        open_dumps.add(seq)
        return hm, out, lost

    def account(self, hm, out, lost):
        """Apply what the kernel accepted to the model; check answers."""
        seqs = [m[0] for m in hm if m[4]]
        none = (None, False, [])
        for seq, typ, fl, payload, handled in hm:
            if not handled or typ != self.fam:
                continue
            cmd = payload[0] if payload else -1
            if len(seqs) > 1 and seqs.count(seq) > 1:
                # a message parsed out of another one's bytes (nlmsg_len
                # too short) with a clashing sequence number
                self.mark_uncertain(cmd, payload)
                continue
            err, done, data = out.get(seq, none)
            if err:
                name = errno.errorcode.get(err, str(err))
                self.errors[name] = self.errors.get(name, 0) + 1
                if cmd == CMD_LOAD and err == errno.ENOMEM:
                    self.mark_uncertain(cmd, payload)
                continue
            if lost and err is None:
                self.mark_uncertain(cmd, payload)     # answers dropped
                continue
            if err is None and (fl & F_ACK) and not (done or data):
                raise Violation("seq %d: no answer although NLM_F_ACK" % seq)
            dump = (fl & F_DUMP) == F_DUMP and cmd == CMD_GET
            key = "dump" if dump else CMD_NAMES.get(cmd, "cmd%d" % cmd)
            self.accepted[key] = self.accepted.get(key, 0) + 1
            if self.mode == "unpriv":
                raise Violation("unprivileged %s (cmd %d, flags %#x) accepted: %s" %
                                (key, cmd, fl, payload[:64].hex()))
            if dump:
                self.dumps["main"] += 1
                self.check_dump_order(data, None)
            else:
                self.apply(cmd, payload[4:], data)

    def mark_uncertain(self, cmd, payload):
        if cmd in (CMD_FLUSH, CMD_RESTORE):
            self.missing_unknown = True
        for t, v in attrs_of(payload[4:]):
            t &= TYPE_MASK
            if cmd == CMD_LOAD and t == A_RECORD:
                tb = parse_last(v)
                if len(tb.get(REC_ID, b"")) == 8 and len(tb.get(REC_LAYER, b"")) == 2:
                    self.uncertain.add((struct.unpack("<Q", tb[REC_ID])[0],
                                        struct.unpack("<H", tb[REC_LAYER])[0]))
            if cmd == CMD_FORGET and t == A_ID and len(v) == 8:
                cid = struct.unpack("<Q", v)[0]
                self.uncertain.update(k for k in self.model if k[0] == cid)

    def apply(self, cmd, attrs, data):
        if cmd == CMD_FLUSH:
            self.model.clear()
            self.timed.clear()
        elif cmd == CMD_FORGET:
            tb = parse_last(attrs)
            cid = struct.unpack("<Q", tb[A_ID])[0]
            if A_LAYER in tb:
                self.model.pop((cid, struct.unpack("<H", tb[A_LAYER])[0]), None)
            else:
                for k in [k for k in self.model if k[0] == cid]:
                    del self.model[k]
        elif cmd == CMD_LOAD:
            for t, v in attrs_of(attrs):
                if t & TYPE_MASK != A_RECORD:
                    continue
                tb = parse_last(v)
                key = (struct.unpack("<Q", tb[REC_ID])[0], struct.unpack("<H", tb[REC_LAYER])[0])
                self.model[key] = tb[REC_PAYLOAD]
                exp = tb.get(REC_EXPIRES)
                if exp is not None and struct.unpack("<Q", exp)[0]:
                    self.timed.add(key)
                else:
                    self.timed.discard(key)
                if self.mode == "priv" and len(self.ids) < 3000 and key[0] not in self.ids:
                    self.ids.append(key[0])
        elif cmd == CMD_RESTORE:
            self.check_restore_answer(data)
        elif cmd == CMD_GET:
            self.check_get_answer(attrs, data)
        elif cmd == CMD_STATUS:
            self.check_status(data)

    def settled(self):
        """The model is exact: nothing expires, nothing unknown."""
        return self.mode == "priv" and not self.timed and not self.uncertain and \
            not self.missing_unknown

    def check_get_answer(self, attrs, data):
        cid = struct.unpack("<Q", parse_last(attrs)[A_ID])[0]
        got = {}
        for p in data:
            for key, payload, _ in self.check_dump_msg(p):
                if key[0] != cid:
                    raise Violation("GET %d answered a record of %d" % (cid, key[0]))
                got[key] = payload
        for key, payload in got.items():
            if key not in self.uncertain and self.model.get(key) != payload:
                raise Violation("GET %d/%d: not what the model holds" % key)
        if self.settled():
            want = {k for k in self.model if k[0] == cid}
            if want != set(got):
                raise Violation("GET %d: layers %s, model %s" % (cid, sorted(got), sorted(want)))

    def check_status(self, msgs):
        if not msgs:
            raise Violation("STATUS without an answer")
        st = parse_last(parse_last(msgs[0][4:]).get(A_STATUS, b""))
        if 4 not in st or 5 not in st:     # CONNECTIONS, RECORDS
            raise Violation("STATUS without connections/records")
        if self.settled():
            conns = struct.unpack("<Q", st[4])[0]
            records = struct.unpack("<Q", st[5])[0]
            want = len({k[0] for k in self.model})
            if records != len(self.model) or conns != want:
                raise Violation("STATUS says %d records of %d IDs, the model %d of %d" %
                                (records, conns, len(self.model), want))
            self.status_checks += 1

    def check_restore_answer(self, data):
        if not data:
            raise Violation("RESTORE accepted without an answer")
        tb = parse_last(data[0][4:])
        if A_RESTORE not in tb:
            raise Violation("RESTORE answer without NF_CKPT_A_RESTORE")
        res = {t: struct.unpack("<I", v)[0] for t, v in parse_last(tb[A_RESTORE]).items()
               if len(v) == 4}
        fails = sum(res.get(t, 0) for t in range(RES_FAIL_FIRST, RES_MAX + 1))
        if res.get(RES_FAILED) != fails:
            raise Violation("RESTORE answer: failed %s != sum of reasons %d (%r)"
                            % (res.get(RES_FAILED), fails, res))
        self.restores["runs"] += 1
        self.restores["restored"] += res.get(RES_RESTORED, 0)
        self.restores["failed"] += fails
        for t in range(1, RES_MAX + 1):
            self.restores["reasons"][t] += res.get(t, 0)

    # -- side activities: dumps on other sockets, the events group
    def dump_step(self):
        r = self.r
        k = r.random()
        if k < 0.35 and len(self.dump_socks) < 6:
            s = NlSock()
            seq = self.next_seq()
            attrs = u64(A_ID, self.pick_id()) if r.random() < 0.15 else b""
            s.send(nlmsg(self.fam, F_REQUEST | F_DUMP, seq, genlhdr(CMD_GET) + attrs))
            self.sent_msgs += 1
            self.dumps["started"] += 1
            self.dump_socks.append([s, seq, None])
            self.dumps["max_concurrent"] = max(self.dumps["max_concurrent"], len(self.dump_socks))
        elif k < 0.85 and self.dump_socks:
            d = self.dump_socks[int(r.random() * len(self.dump_socks))]
            try:
                data = d[0].s.recv(8192)    # small batches: more of them
            except socket.timeout:
                raise Violation("a dump stalled")
            msgs = []
            for t, fl, seq, p in split_msgs(data):
                if t == NLMSG_ERROR:
                    e = err_of(p)
                    if not e:
                        raise Violation("dump answered with an ACK")
                    if self.mode == "unpriv" and e != errno.EPERM:
                        raise Violation("unprivileged dump: %s, not EPERM" % os.strerror(e))
                    if self.mode != "unpriv" and e not in (errno.EINVAL, errno.ERANGE):
                        raise Violation("dump refused: %s" % os.strerror(e))
                    self.dumps["refused"] += 1
                    self.drop_dump(d)
                    return
                if t == NLMSG_DONE:
                    d[2], n = self.check_dump_order(msgs, d[2])
                    self.dumps["records"] += n
                    self.dumps["completed"] += 1
                    self.drop_dump(d)
                    return
                if self.mode == "unpriv":
                    raise Violation("unprivileged dump returned records")
                msgs.append(p)
            d[2], n = self.check_dump_order(msgs, d[2])
            self.dumps["records"] += n
        elif self.dump_socks:
            self.dumps["abandoned"] += 1
            self.drop_dump(self.dump_socks[int(r.random() * len(self.dump_socks))])

    def drop_dump(self, d):
        d[0].close()
        self.dump_socks.remove(d)

    def drain_events(self):
        if not self.monitor:
            return
        while True:
            try:
                data = self.monitor.s.recv(1 << 17)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    continue
                raise
            for t, fl, seq, p in split_msgs(data):
                if t == self.fam and p and p[0] not in (CMD_PUT, CMD_DEL):
                    raise Violation("event with command %d" % p[0])
                self.events += 1

    def ct_flush(self):
        """Flush the expectations and conntracks of this netns (ctnetlink)."""
        if not self.ct:
            return
        for typ in (0x202, 0x102):       # EXP_DELETE, CT_DELETE: no tuple = all
            self.ct.send(nlmsg(typ, F_REQUEST | F_ACK, self.next_seq(), struct.pack("<BBH", 0, 0, 0)))
            while not any(t == NLMSG_ERROR for t, _, _, _ in split_msgs(self.ct.recv())):
                pass

    # -- runs
    def add_generated_seeds(self, n):
        """Records of every layer, well-formed and random (Gen)."""
        for i in range(n):
            for layer, p in self.gen.conn(100000 + i):
                self.seeds.append((100000 + i, layer, p))

    def setup(self):
        t0 = time.monotonic()
        if self.mode == "unpriv":
            try:
                self.monitor = NlSock()
                self.monitor.s.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP,
                                          self.groups["events"])
                raise Violation("unprivileged join of the events group succeeded")
            except PermissionError:
                self.monitor.close()
                self.monitor = None
            self.add_generated_seeds(80)
            recs = {}
        else:
            self.monitor = NlSock()
            self.monitor.s.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, self.groups["events"])
            self.monitor.s.setblocking(False)
            recs = self.dump_all()
            self.model = dict(recs)
            self.timed = set(self.dump_timed)
            self.ids = sorted({k[0] for k in recs})
            self.seeds = [(k[0], k[1], v) for k, v in recs.items()]
            self.add_generated_seeds(60)
        if self.mode == "restore":
            if recs:
                raise Violation("restore mode wants an empty netns (%d records)" % len(recs))
            try:
                self.ct = NlSock(NETLINK_NETFILTER)
            except OSError:
                self.ct = None
            self.conns = [c for c in (self.gen.conn(i) for i in range(250)) if c]
            self.ids = []
        self.corpus = [self.build_entry() for _ in range(self.args.corpus)]
        print("# %s: %d records, %d IDs at the start; corpus of %d built in %.1f s"
              % (self.mode, len(recs), len(self.ids), len(self.corpus), time.monotonic() - t0),
              flush=True)

    def health(self):
        err, msgs = self.request(self.main, CMD_STATUS)
        want = errno.EPERM if self.mode == "unpriv" else 0
        if err != want:
            raise Violation("STATUS answered %s, want %s" % (os.strerror(err), os.strerror(want)))
        if not err:
            self.check_status(msgs)

    def run(self):
        self.setup()
        r = self.r
        t0 = time.monotonic()
        n = 0
        next_progress = 5000
        flushed = False
        while self.sent_msgs < self.args.count:
            n += 1
            if self.mode == "restore":
                batch = [self.restore_dgram() for _ in range(self.BATCH)]
                if r.random() < 0.02:
                    self.ct_flush()
            else:
                batch = [self.quick_dgram() for _ in range(self.BATCH)]
                if not flushed and self.sent_msgs > 0.9 * self.args.count:
                    # once, late: the dumps in flight see it
                    flushed = True
                    batch.append(nlmsg(self.fam, F_REQUEST | F_ACK, self.next_seq(),
                                       genlhdr(CMD_FLUSH)))
            hm, out, lost = self.exchange(batch)
            self.account(hm, out, lost)
            if r.random() < 0.1:
                self.dump_step()
            if n % 16 == 0:
                self.drain_events()
            if n % 250 == 0:
                self.health()
            if self.args.progress and self.sent_msgs >= next_progress:
                next_progress += 5000
                print("# %d messages, %.0f/s" % (self.sent_msgs, self.sent_msgs / (time.monotonic() - t0)),
                      flush=True)
        while self.dump_socks:
            self.dumps["abandoned"] += 1
            self.drop_dump(self.dump_socks[0])
        elapsed = time.monotonic() - t0
        self.health()
        self.drain_events()
        self.final_check()
        return elapsed

    def final_check(self):
        if self.mode == "unpriv":
            return
        if self.mode == "restore":
            self.ct_flush()
        got = self.dump_all()
        bad = []
        for k, v in got.items():
            if k in self.uncertain:
                continue
            if k not in self.model:
                bad.append("%d/%d in the store, never accepted" % k)
            elif self.model[k] != v:
                bad.append("%d/%d differs from what was loaded" % k)
        # restore mode: a restore may forget the records of an ID whose
        # conntrack exists under another one
        if self.mode == "priv" and not self.missing_unknown:
            for k in self.model:
                if k not in got and k not in self.timed and k not in self.uncertain:
                    bad.append("%d/%d missing" % k)
        if bad:
            raise Violation("store differs from the model: %d records: %s" %
                            (len(bad), "; ".join(bad[:8])))
        print("# final dump: %d records, model %d (%d with an expiry, %d uncertain)" %
              (len(got), len(self.model), len(self.timed), len(self.uncertain)))


def cmd_fuzz(argv):
    p = argparse.ArgumentParser(prog="nf_ckpt_fuzz.py fuzz")
    p.add_argument("--mode", choices=["priv", "unpriv", "restore"], required=True)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--corpus", type=int, default=300)
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(4), "little")
    print("# seed %d (reproduce: nf_ckpt_fuzz.py fuzz --mode %s --seed %d --count %d --corpus %d)"
          % (args.seed, args.mode, args.seed, args.count, args.corpus), flush=True)
    try:
        f = Fuzzer(args)
    except OSError as e:
        print("# setup: %s" % e)
        return 2
    rc = 0
    try:
        elapsed = f.run()
    except Violation as e:
        print("# VIOLATION after %d messages: %s" % (f.sent_msgs, e))
        elapsed, rc = None, 1
    acc = ",".join("%s:%d" % kv for kv in sorted(f.accepted.items())) or "-"
    errs = ",".join("%s:%d" % kv for kv in sorted(f.errors.items(), key=lambda kv: -kv[1])) or "-"
    d = f.dumps
    print("# accepted %s" % acc)
    print("# errors %s" % errs)
    print("# STATUS answers equal to the model: %d" % f.status_checks)
    print("# dumps on other sockets: started %d completed %d abandoned %d refused %d "
          "(up to %d at once, %d records read); %d on the fuzz socket"
          % (d["started"], d["completed"], d["abandoned"], d["refused"], d["max_concurrent"],
             d["records"], d["main"]))
    if f.mode == "restore":
        rs = f.restores["reasons"]
        print("# restores %d: %d conntracks created, %d existing, %d expectations, %d failed "
              "(nomem %d nospc %d helper %d nat %d inval %d other %d expect %d)" %
              (f.restores["runs"], rs[1], rs[2], rs[4], f.restores["failed"], *rs[5:12]))
    print("summary mode=%s seed=%d messages=%d datagrams=%d sentinels=%d seconds=%s rate=%s "
          "accepted=%d events=%d result=%s"
          % (f.mode, args.seed, f.sent_msgs, f.datagrams, f.sentinels,
             "%.1f" % elapsed if elapsed else "-",
             "%.0f" % (f.sent_msgs / elapsed) if elapsed else "-",
             sum(f.accepted.values()), f.events, "ok" if rc == 0 else "violation"), flush=True)
    return rc


def save_file_records(path):
    """{(id, layer): payload} of a ckptctl save file."""
    data = open(path, "rb").read()
    hlen, nbytes = struct.unpack_from("<I", data, 12)[0], struct.unpack_from("<Q", data, 32)[0]
    out = {}
    for t, v in attrs_of(data[hlen:hlen + nbytes]):
        tb = parse_last(v)
        out[struct.unpack("<Q", tb[REC_ID])[0], struct.unpack("<H", tb[REC_LAYER])[0]] = tb[REC_PAYLOAD]
    return out


def cmd_same_records(argv):
    a, b = save_file_records(argv[0]), save_file_records(argv[1])
    diff = sorted(set(a) ^ set(b)) + sorted(k for k in set(a) & set(b) if a[k] != b[k])
    print("# %s: %d records, %s: %d records, %d differ%s" %
          (argv[0], len(a), argv[1], len(b), len(diff),
           " (%s)" % " ".join("%d/%d" % k for k in diff[:8]) if diff else ""))
    return 1 if diff or not a else 0


def main():
    cmds = {"fuzz": cmd_fuzz, "same-records": cmd_same_records}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
