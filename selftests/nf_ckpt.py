#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Test helper for the nfckpt selftests (python3 stdlib only).

  nf_ckpt.py gen FILE N [--expires-ms MS] [--first-id ID] [--timeout-ms MS]
                 [--helper NAME] [--tweak WHAT]
      write a save file with N TCP connections (base + l4 layers, every
      third with a helper layer, NAME: ftp), conntrack timeout MS (5 days);
      --tweak corrupts it: truncate, bitflip, version, huge, trailing, count
  nf_ckpt.py records FILE
      print every record of a save file as "id layer payload-hex", sorted
  nf_ckpt.py malformed
      send malformed requests to the nf_ckpt family; print one line per
      case: "<name> <errno> <extack>"
"""
import os
import socket
import struct
import sys
import zlib

# uapi/linux/nf_ckpt.h (kept in step by the tests that use it)
MAGIC = b"NFCKPT\r\n"
HDR = struct.Struct("<8sIIQQQQII")
CMD_STATUS, CMD_GET, CMD_FORGET, CMD_FLUSH, CMD_LOAD, CMD_RESTORE = 1, 2, 3, 4, 5, 6
A_ID, A_LAYER, A_FLAGS, A_RECORD, A_STATUS = 2, 3, 4, 5, 6
REC_ID, REC_LAYER, REC_AGE, REC_EXPIRES, REC_PAYLOAD = 2, 3, 4, 5, 6
L_BASE, L_L4, L_HELPER = 1, 2, 3
B_FAMILY, B_PROTO, B_ZONE, B_TUPLE_ORIG, B_TUPLE_REPLY = 2, 3, 4, 6, 7
B_STATUS, B_MARK, B_TIMEOUT = 8, 9, 11
T_SRC, T_DST, T_SPORT, T_DPORT = 1, 2, 3, 4
L4_TCP, TCP_STATE, TCP_ORIG, TCP_REPLY = 1, 1, 2, 3
W_END, W_MAXEND, W_MAXWIN, W_MAXACK, W_WSCALE = 1, 2, 3, 4, 5
H_NAME, H_DATA = 1, 2
NLA_F_NESTED = 1 << 15


def nla(t, data):
    n = 4 + len(data)
    return struct.pack("<HH", n, t) + data + b"\0" * ((4 - n % 4) % 4)


def nest(t, *parts):
    return nla(t | NLA_F_NESTED, b"".join(parts))


def u8(t, v):
    return nla(t, struct.pack("B", v))


def u16(t, v):
    return nla(t, struct.pack("<H", v))


def be16(t, v):
    return nla(t, struct.pack(">H", v))


def u32(t, v):
    return nla(t, struct.pack("<I", v))


def u64(t, v):
    return nla(t, struct.pack("<Q", v))


def tuple_(t, src, dst, sport, dport):
    return nest(t, nla(T_SRC, socket.inet_aton(src)), nla(T_DST, socket.inet_aton(dst)),
                be16(T_SPORT, sport), be16(T_DPORT, dport))


def conn_records(cid, i, expires_ms, timeout_ms=432000000, helper="ftp"):
    src, dst = "10.0.1.%d" % (2 + i % 200), "10.0.2.2"
    sport = 20000 + i
    base = b"".join([
        u8(B_FAMILY, 2), u8(B_PROTO, 6), u16(B_ZONE, 0),
        tuple_(B_TUPLE_ORIG, src, dst, sport, 80),
        tuple_(B_TUPLE_REPLY, dst, src, 80, sport),
        u32(B_STATUS, 0x0e), u32(B_MARK, i), u64(B_TIMEOUT, timeout_ms),
    ])
    win = lambda e: nest(e, u32(W_END, 1000 + i), u32(W_MAXEND, 2000 + i),
                         u32(W_MAXWIN, 65535), u32(W_MAXACK, 1000 + i), u8(W_WSCALE, 7))
    l4 = nest(L4_TCP, u8(TCP_STATE, 3), win(TCP_ORIG), win(TCP_REPLY))
    recs = [(L_BASE, base), (L_L4, l4)]
    if i % 3 == 0:
        recs.append((L_HELPER, nla(H_NAME, helper.encode() + b"\0") +
                     nla(H_DATA, bytes(range(16)))))
    out = []
    for layer, payload in recs:
        attrs = [u64(REC_ID, cid), u16(REC_LAYER, layer)]
        if expires_ms:
            attrs.append(u64(REC_EXPIRES, expires_ms))
        attrs.append(nla(REC_PAYLOAD | NLA_F_NESTED, payload))
        out.append(nest(A_RECORD, *attrs))
    return out


def write_file(path, recs, version=1, tweak=None):
    body = b"".join(recs)
    count = len(recs)
    if tweak == "count":
        count += 1
    nbytes = len(body)
    if tweak == "huge":
        nbytes = 1 << 40
    hdr = HDR.pack(MAGIC, version, HDR.size, 0, count, nbytes, 0,
                   zlib.crc32(body) & 0xffffffff, 0)
    data = hdr + body
    if tweak == "truncate":
        data = data[:-7]
    elif tweak == "bitflip":
        b = bytearray(data)
        b[HDR.size + len(body) // 2] ^= 0x10
        data = bytes(b)
    elif tweak == "trailing":
        data += b"\0\0\0\0"
    with open(path, "wb") as f:
        f.write(data)


def cmd_gen(argv):
    path, n = argv[0], int(argv[1])
    opts = dict(zip(argv[2::2], argv[3::2]))
    expires = int(opts.get("--expires-ms", 0))
    first = int(opts.get("--first-id", "1"), 0)
    timeout = int(opts.get("--timeout-ms", "432000000"), 0)
    helper = opts.get("--helper", "ftp")
    tweak = opts.get("--tweak")
    recs = []
    for i in range(n):
        recs += conn_records(first + i, i, expires, timeout, helper)
    write_file(path, recs, version=2 if tweak == "version" else 1, tweak=tweak)


def parse_attrs(data):
    off = 0
    while off + 4 <= len(data):
        n, t = struct.unpack_from("<HH", data, off)
        if n < 4:
            break
        yield t & 0x3fff, data[off + 4:off + n]
        off += (n + 3) & ~3


def cmd_records(argv):
    data = open(argv[0], "rb").read()
    magic, ver, hlen, inst, count, nbytes, hi, crc, res = HDR.unpack_from(data)
    lines = []
    for t, rec in parse_attrs(data[hlen:hlen + nbytes]):
        f = dict(parse_attrs(rec))
        lines.append("%d %d %s" % (struct.unpack("<Q", f[REC_ID])[0],
                                   struct.unpack("<H", f[REC_LAYER])[0],
                                   f[REC_PAYLOAD].hex()))
    print("\n".join(sorted(lines)))


class Genl:
    def __init__(self):
        self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16)
        self.s.bind((0, 0))
        self.s.setsockopt(270, 11, 1)   # SOL_NETLINK, NETLINK_EXT_ACK
        self.seq = 1
        self.family = None
        attrs = nla(2, b"nf_ckpt\0")     # CTRL_ATTR_FAMILY_NAME
        err, msgs = self.request(0x10, 3, attrs, version=1)  # GENL_ID_CTRL, GETFAMILY
        if err:
            raise OSError(-err, "family nf_ckpt not found")
        for t, v in parse_attrs(msgs[0][4:]):
            if t == 1:
                self.family = struct.unpack("<H", v)[0]

    def request(self, ftype, cmd, attrs=b"", flags=0x5, version=1):
        self.seq += 1
        body = struct.pack("BBH", cmd, version, 0) + attrs
        hdr = struct.pack("<IHHII", 16 + len(body), ftype, flags, self.seq, 0)
        self.s.send(hdr + body)
        msgs = []
        while True:
            data = self.s.recv(65536)
            off = 0
            while off < len(data):
                n, t, fl, seq, pid = struct.unpack_from("<IHHII", data, off)
                payload = data[off + 16:off + n]
                off += (n + 3) & ~3
                if t == 2:  # NLMSG_ERROR
                    err = struct.unpack_from("<i", payload)[0]
                    ext = ""
                    if fl & 0x200:  # NLM_F_ACK_TLVS
                        # the echoed request is padded to NLMSG_ALIGNTO
                        skip = 20 if fl & 0x100 else \
                            4 + ((struct.unpack_from("<I", payload, 4)[0] + 3) & ~3)
                        for at, av in parse_attrs(payload[skip:]):
                            if at == 1:
                                ext = av.rstrip(b"\0").decode()
                    return err, (msgs if err == 0 else ext)
                msgs.append(payload)

    def call(self, cmd, attrs=b""):
        return self.request(self.family, cmd, attrs)


def cmd_malformed(argv):
    g = Genl()
    good_base = conn_records(900001, 0, 0)[0]
    bad_addr = nest(A_RECORD, u64(REC_ID, 900002), u16(REC_LAYER, L_BASE),
                    nla(REC_PAYLOAD | NLA_F_NESTED,
                        nest(B_TUPLE_ORIG, nla(T_SRC, b"\1\2\3\4\5"))))
    big = nest(A_RECORD, u64(REC_ID, 900003), u16(REC_LAYER, L_HELPER),
               nla(REC_PAYLOAD | NLA_F_NESTED, nla(H_DATA, b"\0" * 5000)))

    def base_with(attr):
        return nest(A_RECORD, u64(REC_ID, 900004), u16(REC_LAYER, L_BASE),
                    nla(REC_PAYLOAD | NLA_F_NESTED, attr))

    cases = [
        ("forget-no-id", CMD_FORGET, b""),
        ("forget-id-zero", CMD_FORGET, u64(A_ID, 0)),
        ("forget-id-wrong-type", CMD_FORGET, u32(A_ID, 7)),
        ("forget-bad-layer", CMD_FORGET, u64(A_ID, 7) + u16(A_LAYER, 99)),
        ("status-unknown-attr", CMD_STATUS, u32(30, 1)),
        ("flush-with-attr", CMD_FLUSH, u64(A_ID, 1)),
        ("load-empty", CMD_LOAD, b""),
        ("load-unknown-flags", CMD_LOAD, u32(A_FLAGS, 0x80) + good_base),
        ("load-no-layer", CMD_LOAD, nest(A_RECORD, u64(REC_ID, 5),
                                         nla(REC_PAYLOAD | NLA_F_NESTED, b""))),
        ("load-bad-layer", CMD_LOAD, nest(A_RECORD, u64(REC_ID, 5), u16(REC_LAYER, 77),
                                          nla(REC_PAYLOAD | NLA_F_NESTED, b""))),
        ("load-bad-address", CMD_LOAD, good_base + bad_addr),
        ("load-bad-family", CMD_LOAD, base_with(u8(B_FAMILY, 5))),
        ("load-family-wrong-type", CMD_LOAD, base_with(u16(B_FAMILY, 2))),
        ("load-oversized-payload", CMD_LOAD, big),
        ("load-truncated-attr", CMD_LOAD, good_base[:-6]),
        ("restore-unknown-flags", CMD_RESTORE, u32(A_FLAGS, 0x100)),
        ("unknown-command", 77, b""),
    ]
    for name, cmd, attrs in cases:
        err, ext = g.call(cmd, attrs)
        print("%s %d %s" % (name, -err, ext if isinstance(ext, str) and ext else "-"))


def main():
    cmds = {"gen": cmd_gen, "records": cmd_records, "malformed": cmd_malformed}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    cmds[sys.argv[1]](sys.argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
