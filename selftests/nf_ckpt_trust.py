#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Save files for nf_ckpt_trust.sh (python3 stdlib only): records a
container's root may LOAD, each naming what the running kernel would never
hold or must not be asked for.

  nf_ckpt_trust.py gen DIR [--bogus N] [--bulk N]
      writes into DIR (IDs and ports are what nf_ckpt_trust.sh looks for):
      l4bad.ckpt      records the store accepts and the restorer must refuse
                      (FAIL_INVAL), IDs 0x1001.., plus two valid controls
                      (SCTP ESTABLISHED, sport 7101; TCP ESTABLISHED, sport
                      7102)
      shape-*.ckpt    one record each that the store itself refuses
      exp.ckpt        masters with expectations (sip master 0x2001, ftp
                      master 0x2002)
      assign.ckpt     a sip master (0x2003) whose expectation has an assign
                      helper (NF_CKPT_EXP_A_ASSIGN_HELPER)
      top.ckpt        one UDP record of ID 2^63 - 1
      bogus.ckpt      N UDP records (default 3000), each naming its own
                      helper that does not exist (nfckptbogusNNNN)
      bulk.ckpt       N plain UDP records (default 0): work for a restore
      hostplain.ckpt  one plain UDP record (0x5002)
      hostftp.ckpt    one TCP record to port 21 naming helper ftp (0x5001)
"""
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nf_ckpt import (nla, nest, u8, u16, u32, u64, be16,   # noqa: E402
                     write_file, A_RECORD, REC_ID, REC_LAYER, REC_PAYLOAD,
                     NLA_F_NESTED, L_BASE, L_L4, L_HELPER, B_FAMILY, B_PROTO,
                     B_ZONE, B_TUPLE_ORIG, B_TUPLE_REPLY, B_STATUS, B_TIMEOUT,
                     T_SRC, T_DST, T_SPORT, T_DPORT, L4_TCP, TCP_STATE,
                     TCP_ORIG, TCP_REPLY, W_END, W_MAXEND, W_MAXWIN, W_MAXACK,
                     W_WSCALE, H_NAME)

# uapi/linux/nf_ckpt.h, beyond what nf_ckpt.py has
L_EXPECT = 5
B_ZONE_DIR = 5
T_ICMP_ID, T_ICMP_TYPE, T_ICMP_CODE = 5, 6, 7
L4_SCTP = 2
W_FLAGS = 6
TCP_LAST_INDEX, TCP_LAST_FLAGS = 6, 12
TCP_LAST_WSCALE = 11
S_STATE, S_VTAG_ORIG, S_VTAG_REPLY, S_INIT_ORIG, S_INIT_REPLY = 1, 2, 3, 4, 5
S_LAST_DIR, S_FLAGS = 6, 7
EXP_ITEM = 1
E_TUPLE, E_MASK, E_CLASS, E_FLAGS, E_HELPER, E_FN, E_TIMEOUT = 2, 3, 4, 5, 6, 7, 8
E_PROTO, E_ASSIGN = 12, 13

TIMEOUT_MS = 3600 * 1000
STATUS = 0x0e           # SEEN_REPLY | ASSURED | CONFIRMED


def rec(cid, layer, payload):
    return nest(A_RECORD, u64(REC_ID, cid), u16(REC_LAYER, layer),
                nla(REC_PAYLOAD | NLA_F_NESTED, payload))


def ptuple(t, src, dst, sport, dport):
    return nest(t, nla(T_SRC, socket.inet_aton(src)),
                nla(T_DST, socket.inet_aton(dst)),
                be16(T_SPORT, sport), be16(T_DPORT, dport))


def base(proto, src, dst, sport, dport, extra=b""):
    return b"".join([
        u8(B_FAMILY, 2), u8(B_PROTO, proto), u16(B_ZONE, 0),
        ptuple(B_TUPLE_ORIG, src, dst, sport, dport),
        ptuple(B_TUPLE_REPLY, dst, src, dport, sport),
        u32(B_STATUS, STATUS), u64(B_TIMEOUT, TIMEOUT_MS), extra])


def tcp_l4(state=3, dflags=None, extra=b""):
    def win(t):
        f = u8(W_FLAGS, dflags) if dflags is not None else b""
        return nest(t, u32(W_END, 1000), u32(W_MAXEND, 2000), u32(W_MAXWIN, 65535),
                    u32(W_MAXACK, 1000), u8(W_WSCALE, 7), f)
    return nest(L4_TCP, u8(TCP_STATE, state), win(TCP_ORIG), win(TCP_REPLY), extra)


def sctp_l4(state, extra=b""):
    return nest(L4_SCTP, u8(S_STATE, state), nla(S_VTAG_ORIG, struct.pack(">I", 0x1234)),
                nla(S_VTAG_REPLY, struct.pack(">I", 0x5678)), extra)


def tcp_conn(cid, sport, dport=80, src="10.0.1.2", dst="10.0.2.2", **kw):
    return [rec(cid, L_BASE, base(6, src, dst, sport, dport)),
            rec(cid, L_L4, tcp_l4(**kw))]


def helper(cid, name):
    return rec(cid, L_HELPER, nla(H_NAME, name.encode() + b"\0"))


def icmp_tuple(t, src, dst, typ, code, ident):
    return nest(t, nla(T_SRC, socket.inet_aton(src)), nla(T_DST, socket.inet_aton(dst)),
                be16(T_ICMP_ID, ident), u8(T_ICMP_TYPE, typ), u8(T_ICMP_CODE, code))


def gen_l4bad(d):
    recs = []
    # SCTP HEARTBEAT_ACKED (9): the store's range (< SCTP_CONNTRACK_MAX)
    # lets it through; sctp_conntrack_names[] has 9 entries.
    recs += [rec(0x1001, L_BASE, base(132, "10.0.1.2", "10.0.2.2", 7001, 9)),
             rec(0x1001, L_L4, sctp_l4(9))]
    # SCTP init[] beyond 1, SCTP flags beyond HEARTBEAT_VTAG_FAILED
    recs += [rec(0x1002, L_BASE, base(132, "10.0.1.2", "10.0.2.2", 7002, 9)),
             rec(0x1002, L_L4, sctp_l4(4, u8(S_INIT_ORIG, 2)))]
    recs += [rec(0x1003, L_BASE, base(132, "10.0.1.2", "10.0.2.2", 7003, 9)),
             rec(0x1003, L_L4, sctp_l4(4, u8(S_FLAGS, 2)))]
    # TCP flag bits conntrack does not define (per direction, last_flags)
    recs += tcp_conn(0x1004, 7004, dflags=0x80)
    recs += tcp_conn(0x1005, 7005, extra=u8(TCP_LAST_FLAGS, 0x80))
    # ICMP destination unreachable: no inverse (only requests are tracked)
    recs.append(rec(0x1006, L_BASE, b"".join([
        u8(B_FAMILY, 2), u8(B_PROTO, 1), u16(B_ZONE, 0),
        icmp_tuple(B_TUPLE_ORIG, "10.0.1.2", "10.0.2.2", 3, 1, 7006),
        icmp_tuple(B_TUPLE_REPLY, "10.0.2.2", "10.0.1.2", 3, 1, 7006),
        u32(B_STATUS, STATUS), u64(B_TIMEOUT, TIMEOUT_MS)])))
    # Controls, which must be restored
    recs += [rec(0x1101, L_BASE, base(132, "10.0.1.2", "10.0.2.2", 7101, 9)),
             rec(0x1101, L_L4, sctp_l4(4))]
    recs += tcp_conn(0x1102, 7102)
    write_file(os.path.join(d, "l4bad.ckpt"), recs)

    # What the store's policies refuse at LOAD already
    shapes = {
        "tcpstate10": tcp_conn(0x1201, 7201, state=10),
        "tcpindex6": tcp_conn(0x1202, 7202, extra=u8(TCP_LAST_INDEX, 6)),
        "wscale15": [rec(0x1203, L_BASE, base(6, "10.0.1.2", "10.0.2.2", 7203, 80)),
                     rec(0x1203, L_L4, nest(L4_TCP, u8(TCP_STATE, 3),
                                            nest(TCP_ORIG, u8(W_WSCALE, 15))))],
        "lastwscale15": tcp_conn(0x1204, 7204, extra=u8(TCP_LAST_WSCALE, 15)),
        "zonedir4": [rec(0x1205, L_BASE, base(17, "10.0.1.2", "10.0.2.2", 7205, 53,
                                              u8(B_ZONE_DIR, 4)))],
    }
    for name, recs in shapes.items():
        write_file(os.path.join(d, "shape-%s.ckpt" % name), recs)


def exp_item(proto, dst, dport, helper_name=None, cls=None, timeout_ms=None,
             assign=None, src="10.0.2.2"):
    parts = [ptuple(E_TUPLE, src, dst, 0, dport),
             ptuple(E_MASK, "255.255.255.255", "255.255.255.255", 0, 0xffff),
             u8(E_PROTO, proto)]
    if cls is not None:
        parts.append(u32(E_CLASS, cls))
    if helper_name:
        parts.append(nla(E_HELPER, helper_name.encode() + b"\0"))
    if timeout_ms is not None:
        parts.append(u64(E_TIMEOUT, timeout_ms))
    if assign:
        parts.append(nla(E_ASSIGN, assign.encode() + b"\0"))
    return nest(EXP_ITEM, *parts)


def gen_exp(d):
    recs = []
    # sip master; its expectations: one naming ftp (not the master's
    # helper) with class 3 (within sip's expect_class_max, beyond ftp's 0),
    # one of 2^40 ms, a control of 60 s
    recs += [rec(0x2001, L_BASE, base(17, "10.0.1.2", "10.0.2.2", 5060, 5060)),
             helper(0x2001, "sip"),
             rec(0x2001, L_EXPECT, b"".join([
                 exp_item(6, "10.0.1.2", 30001, "ftp", 3, 60000),
                 exp_item(17, "10.0.1.2", 30003, "sip", 0, 1 << 40),
                 exp_item(17, "10.0.1.2", 30004, "sip", 1, 60000)]))]
    # ftp master: class 1, beyond ftp's expect_class_max (0)
    recs += tcp_conn(0x2002, 40021, dport=21)
    recs += [helper(0x2002, "ftp"),
             rec(0x2002, L_EXPECT, exp_item(6, "10.0.1.2", 30002, "ftp", 1, 60000))]
    write_file(os.path.join(d, "exp.ckpt"), recs)

    recs = [rec(0x2003, L_BASE, base(17, "10.0.1.3", "10.0.2.2", 5060, 5060)),
            helper(0x2003, "sip"),
            rec(0x2003, L_EXPECT, exp_item(17, "10.0.1.3", 30005, "sip", 0, 600000,
                                           assign="sip"))]
    write_file(os.path.join(d, "assign.ckpt"), recs)


def udp_rec(cid, i, helper_name=None, net=3):
    src = "10.%d.%d.%d" % (net, (i >> 8) & 0xff, i & 0xff)
    out = [rec(cid, L_BASE, base(17, src, "10.0.2.2", 10000 + i % 50000, 53))]
    if helper_name:
        out.append(helper(cid, helper_name))
    return out


def bulk(n):
    """n plain UDP records from 10.5.0.0/16 on: one template, patched (a
    python loop building each of 100000s of records takes minutes under
    TCG)."""
    tpl = bytearray(udp_rec(0xfafbfcfd, 0, net=250)[0])
    tpl[:] = tpl.replace(socket.inet_aton("10.250.0.0"), b"\x0a\xee\xee\xee")
    id_off = tpl.index(struct.pack("<Q", 0xfafbfcfd))
    addr_offs = [i for i in range(len(tpl)) if tpl.startswith(b"\x0a\xee\xee\xee", i)]
    assert len(addr_offs) == 2
    out = []
    for i in range(n):
        struct.pack_into("<Q", tpl, id_off, 0x100000 + i)
        addr = struct.pack(">I", (10 << 24) + (5 << 16) + i)
        for o in addr_offs:
            tpl[o:o + 4] = addr
        out.append(bytes(tpl))
    return out


def main():
    if len(sys.argv) < 3 or sys.argv[1] != "gen":
        print(__doc__, file=sys.stderr)
        return 2
    d = sys.argv[2]
    opts = dict(zip(sys.argv[3::2], sys.argv[4::2]))
    nbogus = int(opts.get("--bogus", 3000))
    nbulk = int(opts.get("--bulk", 0))
    gen_l4bad(d)
    gen_exp(d)
    write_file(os.path.join(d, "top.ckpt"), udp_rec((1 << 63) - 1, 1, net=4))
    recs = []
    for i in range(nbogus):
        recs += udp_rec(0x10000 + i, i, "nfckptbogus%04d" % i)
    write_file(os.path.join(d, "bogus.ckpt"), recs)
    write_file(os.path.join(d, "bulk.ckpt"), bulk(nbulk))
    write_file(os.path.join(d, "hostplain.ckpt"), udp_rec(0x5002, 2, net=6))
    recs = tcp_conn(0x5001, 40121, dport=21, src="10.0.7.2")
    recs.append(helper(0x5001, "ftp"))
    write_file(os.path.join(d, "hostftp.ckpt"), recs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
