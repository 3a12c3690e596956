#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Raw TCP segments across the router of topo_client_router_server.

  nf_ckpt_relearn_trust.py CLIENT_NS SERVER_NS

Reads one command a line on stdin and answers one line on stdout:

  send c|s CPORT SPORT SEQ ACK FLAGS LEN [badsum] [doff=N] [win=N]

sends a segment of the flow 10.0.1.2:CPORT <-> 10.0.2.2:SPORT from the
client (c) or the server (s) with a raw IPv4 socket (IP_HDRINCL, the
TCP checksum computed here, made wrong by badsum; doff=N claims a data
offset of N words without adding options: a truncated header), then
waits up to 4 s for it to arrive on the peer's veth0 (AF_PACKET): answers
"arrived" or "lost".  FLAGS: letters of S A F P R (SYN ACK FIN PSH RST);
SEQ and ACK: integers (0x... allowed), taken mod 2^32.

Both sockets of each side are opened in that side's netns (setns), so one
process serves the whole test: a Python start costs seconds under TCG.
"""
import ctypes
import os
import select
import socket
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10}
ADDR = {"c": "10.0.1.2", "s": "10.0.2.2"}
WAIT = 4.0

libc = ctypes.CDLL(None, use_errno=True)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET):
            raise OSError(ctypes.get_errno(), "setns " + path)
    finally:
        os.close(fd)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def build(src, dst, sport, dport, seq, ack, flags, win, payload, badsum, doff):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, win, 0, 0)
    pseudo = struct.pack("!4s4sBBH", src, dst, 0, socket.IPPROTO_TCP, len(tcp) + len(payload))
    c = csum(pseudo + tcp + payload)
    if badsum:
        c ^= 0x5a5a
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload),
                     0x4242, 0x4000, 64, socket.IPPROTO_TCP, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + tcp + payload


class Side:
    def __init__(self, ns):
        setns("/run/netns/" + ns)
        self.tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        self.tx.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        self.rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.rx.bind(("veth0", ETH_P_ALL))
        self.rx.setblocking(False)

    def drain(self):
        while True:
            try:
                self.rx.recv(65535)
            except BlockingIOError:
                return

    def wait_for(self, src, dst, sport, dport, seq, ack, flags):
        deadline = time.monotonic() + WAIT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.rx], [], [], left)
            if not r:
                continue
            try:
                frame, addr = self.rx.recvfrom(65535)
            except BlockingIOError:
                continue
            if addr[2] == PACKET_OUTGOING or len(frame) < 54:
                continue
            if struct.unpack_from("!H", frame, 12)[0] != ETH_P_IP:
                continue
            ip = frame[14:]
            if ip[9] != socket.IPPROTO_TCP or ip[12:16] != src or ip[16:20] != dst:
                continue
            ihl = (ip[0] & 0xF) * 4
            p = struct.unpack_from("!HHIIBB", ip, ihl)
            if p[:4] == (sport, dport, seq, ack) and p[5] == flags:
                return True


def main():
    here = os.open("/proc/self/ns/net", os.O_RDONLY)
    sides = {"c": Side(sys.argv[1])}
    sides["s"] = Side(sys.argv[2])
    if libc.setns(here, CLONE_NEWNET):
        raise OSError(ctypes.get_errno(), "setns back")
    os.close(here)
    print("ready", flush=True)
    for line in sys.stdin:
        w = line.split()
        if not w:
            continue
        if w[0] != "send" or len(w) < 8:
            print("error: " + line.strip(), flush=True)
            continue
        frm, cport, sport = w[1], int(w[2]), int(w[3])
        seq, ack = int(w[4], 0) & 0xFFFFFFFF, int(w[5], 0) & 0xFFFFFFFF
        flags = sum(FLAGS[f] for f in w[6])
        n = int(w[7])
        opts = dict(o.split("=", 1) if "=" in o else (o, "1") for o in w[8:])
        to = "s" if frm == "c" else "c"
        ports = (cport, sport) if frm == "c" else (sport, cport)
        src, dst = socket.inet_aton(ADDR[frm]), socket.inet_aton(ADDR[to])
        pkt = build(src, dst, ports[0], ports[1], seq, ack, flags,
                    int(opts.get("win", "65535")), b"x" * n, "badsum" in opts,
                    int(opts.get("doff", "5")))
        sides[to].drain()
        sides[frm].tx.sendto(pkt, (ADDR[to], 0))
        got = sides[to].wait_for(src, dst, ports[0], ports[1], seq, ack, flags)
        print("arrived" if got else "lost", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
