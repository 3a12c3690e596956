#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checkpoint lag: from the packet that changes a connection's state to
the store's event for the record it causes (python3 stdlib only).

  lag.py --uapi HEADER --port P --ready FILE --stop FILE [--seconds S]
         [--handshake]

Runs in the router's netns.  Joins nf_ckpt's "events" group and opens an
AF_PACKET socket (SO_TIMESTAMPNS: the kernel stamps a packet as it is
received, before the netfilter hooks), until FILE of --stop appears.
Connections to port P, one per client source port, give three lags:
  new  the client's handshake ACK  -> the first BASE put of the new ID
       (a connection is checkpointed once ESTABLISHED; before issue #14
       item 3, and with checkpoint_handshake=1, at the SYN: then the
       reference is the SYN, see --handshake)
  est  the client's handshake ACK  -> the L4 put with TCP ESTABLISHED
  end  the flow's last packet      -> the DEL of the ID (TIME_WAIT)
An event's time is when this process reads it (CLOCK_REALTIME, like the
packet stamps): the lag includes the event's delivery to userspace, and
the events socket is always read before the packet socket.  Attribute
numbers come from the uapi header (--uapi).  Prints JSON.
"""
import argparse
import json
import os
import re
import select
import socket
import struct
import time

NETLINK_GENERIC = 16
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
CTRL_ATTR_MCAST_GROUPS = 7
CTRL_ATTR_MCAST_GRP_NAME = 1
CTRL_ATTR_MCAST_GRP_ID = 2
NLA_TYPE_MASK = 0x3fff
ETH_P_ALL = 3
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
TCP_ESTABLISHED = 3


def uapi_enums(path):
    """name -> value for every enumerator of every enum in the header."""
    text = re.sub(r"/\*.*?\*/", "", open(path).read(), flags=re.S)
    vals = {}
    for body in re.findall(r"enum\s+\w+\s*\{(.*?)\}", text, flags=re.S):
        n = 0
        for item in body.split(","):
            item = item.strip()
            if not item:
                continue
            name, _, val = item.partition("=")
            if val.strip():
                n = int(val.strip(), 0)
            vals[name.strip()] = n
            n += 1
    return vals


def attrs(buf):
    """(type, payload) of a stream of netlink attributes."""
    off = 0
    while off + 4 <= len(buf):
        ln, typ = struct.unpack_from("=HH", buf, off)
        if ln < 4:
            break
        yield typ & NLA_TYPE_MASK, buf[off + 4:off + ln]
        off += (ln + 3) & ~3


def genl_resolve(sock, name):
    payload = struct.pack("=BBH", CTRL_CMD_GETFAMILY, 1, 0)
    nm = name.encode() + b"\0"
    a = struct.pack("=HH", 4 + len(nm), CTRL_ATTR_FAMILY_NAME) + nm
    a += b"\0" * ((4 - len(a) % 4) % 4)
    body = payload + a
    sock.send(struct.pack("=IHHII", 16 + len(body), GENL_ID_CTRL, 1, 1, 0) + body)
    data = sock.recv(65536)
    ln, typ = struct.unpack_from("=IH", data, 0)
    if typ == 2:
        raise SystemExit("lag: family %s not found" % name)
    fam, groups = None, {}
    for t, v in attrs(data[20:ln]):
        if t == CTRL_ATTR_FAMILY_ID:
            fam = struct.unpack_from("=H", v)[0]
        elif t == CTRL_ATTR_MCAST_GROUPS:
            for _, g in attrs(v):
                gname, gid = None, None
                for gt, gv in attrs(g):
                    if gt == CTRL_ATTR_MCAST_GRP_NAME:
                        gname = gv.rstrip(b"\0").decode()
                    elif gt == CTRL_ATTR_MCAST_GRP_ID:
                        gid = struct.unpack_from("=I", gv)[0]
                groups[gname] = gid
    return fam, groups


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--uapi", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--stop", required=True)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--handshake", action="store_true",
                    help="nf_ckpt_ct checkpoints from the SYN (checkpoint_handshake=1, or a tree before it)")
    a = ap.parse_args()
    E = uapi_enums(a.uapi)

    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    nl.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    nl.bind((0, 0))
    fam, groups = genl_resolve(nl, "nf_ckpt")
    nl.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, groups["events"])
    pk = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    pk.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    pk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    open(a.ready, "w").close()

    pkts = {}       # sport -> [(ts_ns, from_client, flags)]
    events = []     # (t_ns, cmd, id, layer, sport, state)
    id_sport = {}
    lost = 0
    deadline = time.monotonic() + a.seconds

    def read_events():
        nonlocal lost
        while True:
            try:
                data = nl.recv(1 << 16, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                lost += 1
                continue
            t = time.time_ns()
            off = 0
            while off + 16 <= len(data):
                ln, typ = struct.unpack_from("=IH", data, off)
                if ln < 16:
                    break
                if typ == fam:
                    cmd = data[off + 16]
                    parse_event(t, cmd, data[off + 20:off + ln])
                off += (ln + 3) & ~3

    def parse_event(t, cmd, body):
        cid, layer, sport, state, payload = 0, 0, None, None, b""
        for typ, v in attrs(body):
            if typ == E["NF_CKPT_A_ID"]:
                cid = struct.unpack("=Q", v)[0]
            elif typ == E["NF_CKPT_A_RECORD"]:
                for rt, rv in attrs(v):
                    if rt == E["NF_CKPT_REC_A_ID"]:
                        cid = struct.unpack("=Q", rv)[0]
                    elif rt == E["NF_CKPT_REC_A_LAYER"]:
                        layer = struct.unpack("=H", rv)[0]
                    elif rt == E["NF_CKPT_REC_A_PAYLOAD"]:
                        payload = rv
                for pt, pv in attrs(payload) if layer else ():
                    if (layer == E["NF_CKPT_LAYER_BASE"] and
                            pt == E["NF_CKPT_BASE_A_TUPLE_ORIG"]):
                        for tt, tv in attrs(pv):
                            if tt == E["NF_CKPT_TUPLE_A_SPORT"]:
                                sport = struct.unpack("!H", tv)[0]
                            elif (tt == E["NF_CKPT_TUPLE_A_DPORT"] and
                                  struct.unpack("!H", tv)[0] != a.port):
                                return
                    elif (layer == E["NF_CKPT_LAYER_L4"] and
                          pt == E["NF_CKPT_L4_A_TCP"]):
                        for tt, tv in attrs(pv):
                            if tt == E["NF_CKPT_TCP_A_STATE"]:
                                state = tv[0]
        if sport is not None and cid not in id_sport:
            id_sport[cid] = sport
        events.append((t, cmd, cid, layer, state))

    def read_packets():
        while True:
            try:
                data, anc, _, addr = pk.recvmsg(128, 256, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            if addr[2] == PACKET_OUTGOING or len(data) < 14 + 20 + 14:
                continue
            if data[12:14] != b"\x08\x00" or data[14 + 9] != 6:
                continue
            ihl = (data[14] & 0xf) * 4
            sp, dp = struct.unpack_from("!HH", data, 14 + ihl)
            flags = data[14 + ihl + 13]
            ts = None
            for lvl, typ, cd in anc:
                if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                    s, ns = struct.unpack("=qq", cd[:16])
                    ts = s * 10**9 + ns
            if ts is None:
                continue
            if dp == a.port:
                pkts.setdefault(sp, []).append((ts, True, flags))
            elif sp == a.port:
                pkts.setdefault(dp, []).append((ts, False, flags))

    while not os.path.exists(a.stop) and time.monotonic() < deadline:
        r, _, _ = select.select([nl, pk], [], [], 0.2)
        if nl in r:
            read_events()
        if pk in r:
            read_packets()
    time.sleep(0.5)
    read_events()
    read_packets()

    lag = {"new": [], "est": [], "end": []}
    seen_new, seen_est = set(), set()
    for t, cmd, cid, layer, state in events:
        sp = id_sport.get(cid)
        if sp is None or sp not in pkts:
            continue
        pl = pkts[sp]
        if cmd == E["NF_CKPT_CMD_PUT"] and layer == E["NF_CKPT_LAYER_BASE"] \
                and cid not in seen_new:
            seen_new.add(cid)
            if a.handshake:
                ref = [ts for ts, cl, fl in pl if cl and fl & 0x02 and not fl & 0x10]
            else:
                ref = [ts for ts, cl, fl in pl if cl and fl & 0x10 and not fl & 0x03]
            if ref:
                lag["new"].append(t - ref[0])
        elif cmd == E["NF_CKPT_CMD_PUT"] and layer == E["NF_CKPT_LAYER_L4"] \
                and state == TCP_ESTABLISHED and cid not in seen_est:
            seen_est.add(cid)
            ack = [ts for ts, cl, fl in pl if cl and fl & 0x10 and not fl & 0x03]
            if ack:
                lag["est"].append(t - ack[0])
        elif cmd == E["NF_CKPT_CMD_DEL"] and layer == 0:
            before = [ts for ts, _, _ in pl if ts <= t]
            if before:
                lag["end"].append(t - before[-1])
    out = {"connections": len(pkts), "events": len(events), "lost": lost}
    for k, v in lag.items():
        ms = [x / 1e6 for x in v]
        out[k] = {"n": len(ms), "p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99),
                  "max_ms": max(ms) if ms else None,
                  "negative": sum(1 for x in ms if x < 0)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
