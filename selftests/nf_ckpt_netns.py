#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Helper of nf_ckpt_netns.sh (python3 stdlib only): many network
namespaces from one process each, since under TCG every process start
costs a second or more.

  nf_ckpt_netns.py conf --rules FILE [--masq-rules FILE] NAME,A,B...
      For each router namespace /run/netns/NAME (setns): lo up; its
      interfaces "a" and "b" up with the IPv4 addresses A and B (/24);
      IPv4 forwarding on; the nftables ruleset FILE loaded (libnftables
      through ctypes, else the nft binary), and --masq-rules on top for
      every other router.
  nf_ckpt_netns.py status NAME...
      For each namespace, the store's counters (generic netlink STATUS of
      the nf_ckpt family, asked from inside it): one line
      "NAME connections records bytes puts deletes refused".
  nf_ckpt_netns.py serve --port P
      TCP and UDP echo on port P (every address); a TCP connection idle for
      30 s is aborted (its peer's router is gone).
  nf_ckpt_netns.py client --dir D --port P --tcp K
      For every file D/wave-N (one router index i per line) traffic through
      each router i to 10.2.i.2:P: K TCP connections and one UDP socket,
      each exchanging a message every second, and one short TCP
      connection, closed after one exchange.  D/wave-N.up once every
      router of the wave has its K TCP echoes and three UDP ones, and the
      short connection is closed.  A socket without an answer for 30 s (its
      router was deleted; less would take a loaded TCG guest's pauses
      for that) is aborted (RST, nowhere to go); D/wave-N.down
      once all of the wave's are.  D/wave-N.err: routers that failed to
      come up.  Ends when D/stop exists.
"""
import argparse
import ctypes
import ctypes.util
import fcntl
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time

CLONE_NEWNET = 0x40000000
IDLE = 30.0

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def setns(name):
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns %s: %s" % (name, os.strerror(e)))
    finally:
        os.close(fd)


# ------------------------------------------------------------------ conf
SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914
SIOCSIFADDR, SIOCSIFNETMASK = 0x8916, 0x891C
IFF_UP = 0x1


def ifreq_addr(ifname, addr):
    sin = struct.pack("HH4s8x", socket.AF_INET, 0, socket.inet_aton(addr))
    return struct.pack("16s16s", ifname.encode(), sin)


def if_up(s, ifname, addr=None):
    if addr:
        fcntl.ioctl(s, SIOCSIFADDR, ifreq_addr(ifname, addr))
        fcntl.ioctl(s, SIOCSIFNETMASK, ifreq_addr(ifname, "255.255.255.0"))
    req = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH14x", ifname.encode(), 0))
    flags = struct.unpack_from("H", req, 16)[0] | IFF_UP
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", ifname.encode(), flags))


class Nft:
    """libnftables, opened afresh in each netns (its socket is bound to
    the netns it was created in)."""

    def __init__(self):
        path = ctypes.util.find_library("nftables") or "libnftables.so.1"
        try:
            self.lib = ctypes.CDLL(path)
        except OSError:
            self.lib = None
            return
        self.lib.nft_ctx_new.restype = ctypes.c_void_p
        self.lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        self.lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        self.lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        self.lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        self.lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        self.lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]

    def load(self, text):
        if not self.lib:
            subprocess.run(["nft", "-f", "-"], input=text.encode(), check=True)
            return
        ctx = self.lib.nft_ctx_new(0)
        if not ctx:
            raise OSError("nft_ctx_new failed")
        try:
            self.lib.nft_ctx_buffer_error(ctx)
            if self.lib.nft_run_cmd_from_buffer(ctx, text.encode()) != 0:
                err = self.lib.nft_ctx_get_error_buffer(ctx) or b""
                raise OSError("nft: " + err.decode(errors="replace").strip())
        finally:
            self.lib.nft_ctx_free(ctx)


def cmd_conf(a):
    rules = open(a.rules).read()
    masq = open(a.masq_rules).read() if a.masq_rules else None
    nft = Nft()
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    for n, spec in enumerate(a.routers):
        name, ip_a, ip_b = spec.split(",")
        setns(name)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if_up(s, "lo")
        if_up(s, "a", ip_a)
        if_up(s, "b", ip_b)
        s.close()
        # /proc/sys/net is the netns of whoever opens it.
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1")
        nft.load(rules)
        if masq and n % 2:
            nft.load(masq)
    _libc.setns(home, CLONE_NEWNET)
    return 0


# ------------------------------------------------------------------ status
NETLINK_GENERIC = 16
GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 0x10, 3, 1, 2
NF_CKPT_CMD_STATUS, NF_CKPT_A_STATUS = 1, 6
STAT = {4: "connections", 5: "records", 6: "bytes", 9: "puts", 11: "deletes", 13: "refused"}


def attrs(data):
    off = 0
    while off + 4 <= len(data):
        n, t = struct.unpack_from("HH", data, off)
        if n < 4:
            break
        yield t & 0x3FFF, data[off + 4:off + n]
        off += (n + 3) & ~3


def nla(t, data):
    n = 4 + len(data)
    return struct.pack("HH", n, t) + data + b"\0" * ((4 - n % 4) % 4)


def genl_request(s, ftype, cmd, payload=b""):
    body = struct.pack("BBH", cmd, 1, 0) + payload
    s.send(struct.pack("IHHII", 16 + len(body), ftype, 0x1, 1, 0) + body)  # no ACK
    data = s.recv(65536)
    n, t = struct.unpack_from("IH", data, 0)
    if t == 2:
        err = struct.unpack_from("i", data, 16)[0]
        if err:
            raise OSError(-err, os.strerror(-err))
    return data[20:n]


def store_status():
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    try:
        s.bind((0, 0))
        fam = None
        reply = genl_request(s, GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
                             nla(CTRL_ATTR_FAMILY_NAME, b"nf_ckpt\0"))
        for t, v in attrs(reply):
            if t == CTRL_ATTR_FAMILY_ID:
                fam = struct.unpack("H", v[:2])[0]
        if fam is None:
            raise OSError("no nf_ckpt family")
        out = dict.fromkeys(STAT.values(), 0)
        for t, v in attrs(genl_request(s, fam, NF_CKPT_CMD_STATUS)):
            if t == NF_CKPT_A_STATUS:
                for st, sv in attrs(v):
                    if st in STAT:
                        out[STAT[st]] = struct.unpack("Q", sv[:8])[0]
        return out
    finally:
        s.close()


def cmd_status(a):
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    rc = 0
    for name in a.names:
        try:
            setns(name)
            st = store_status()
            print(name, *(st[k] for k in ("connections", "records", "bytes", "puts",
                                          "deletes", "refused")))
        except OSError as e:
            print(name, "error", e)
            rc = 1
        _libc.setns(home, CLONE_NEWNET)
    return rc


# ------------------------------------------------------------------ serve
def abort(s):
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def cmd_serve(a):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", a.port))
    ls.listen(256)
    us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    us.bind(("0.0.0.0", a.port))
    conns = {}
    while True:
        r, _, _ = select.select([ls, us] + list(conns), [], [], 1.0)
        now = time.monotonic()
        for s in r:
            if s is ls:
                c, _ = ls.accept()
                c.setblocking(False)
                conns[c] = now
            elif s is us:
                try:
                    msg, peer = us.recvfrom(2048)
                    us.sendto(msg, peer)
                except OSError:
                    pass
            else:
                try:
                    d = s.recv(4096)
                except OSError:
                    d = b""
                if not d:
                    del conns[s]
                    s.close()
                    continue
                conns[s] = now
                try:
                    s.send(d)
                except OSError:
                    pass
        for s, t in list(conns.items()):
            if now - t > IDLE:
                del conns[s]
                abort(s)


# ------------------------------------------------------------------ client
class Router(threading.Thread):
    def __init__(self, a, wave, i):
        super().__init__(daemon=True)
        self.a, self.wave, self.i = a, wave, i
        self.dst = ("10.2.%d.2" % i, a.port)
        self.up = False
        self.failed = None
        self.done = False

    def run(self):
        try:
            self.traffic()
        except OSError as e:
            self.failed = "%s" % e
        self.done = True

    def traffic(self):
        # The short connection first: ended, so no record must stay.
        s = socket.create_connection(self.dst, timeout=60)
        s.sendall(b"short\n")
        if s.recv(64) != b"short\n":
            raise OSError("short: bad echo")
        s.close()
        socks = [socket.create_connection(self.dst, timeout=60) for _ in range(self.a.tcp)]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.connect(self.dst)
        socks.append(u)
        last = dict.fromkeys(socks, time.monotonic())
        echoes = dict.fromkeys(socks, 0)
        for s in socks:
            s.setblocking(False)
        while socks:
            now = time.monotonic()
            for s in socks:
                try:
                    s.send(b"ping %d\n" % self.i)
                except OSError:
                    pass
            end = now + 1.0
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    break
                r, _, _ = select.select(socks, [], [], left)
                for s in r:
                    try:
                        d = s.recv(4096)
                    except OSError:
                        d = None
                    if d:
                        last[s] = time.monotonic()
                        echoes[s] += 1
            if not self.up and all(echoes[s] >= (3 if s is u else 1) for s in socks):
                self.up = True
            now = time.monotonic()
            for s in list(socks):
                if now - last[s] > IDLE:
                    socks.remove(s)
                    abort(s)


def cmd_client(a):
    waves = {}
    while not os.path.exists(os.path.join(a.dir, "stop")):
        for f in sorted(os.listdir(a.dir)):
            if not f.startswith("wave-") or "." in f or f in waves:
                continue
            with open(os.path.join(a.dir, f)) as fh:
                idx = [int(x) for x in fh.read().split()]
            rs = [Router(a, f, i) for i in idx]
            for r in rs:
                r.start()
            waves[f] = {"routers": rs, "up": False, "down": False}
        for f, w in waves.items():
            rs = w["routers"]
            if not w["up"] and all(r.up or r.done for r in rs):
                bad = [r for r in rs if not r.up]
                if bad:
                    with open(os.path.join(a.dir, f + ".err"), "w") as fh:
                        for r in bad:
                            fh.write("%d %s\n" % (r.i, r.failed))
                open(os.path.join(a.dir, f + ".up"), "w").close()
                w["up"] = True
            if w["up"] and not w["down"] and all(r.done for r in rs):
                open(os.path.join(a.dir, f + ".down"), "w").close()
                w["down"] = True
        time.sleep(0.2)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("conf")
    p.add_argument("--rules", required=True)
    p.add_argument("--masq-rules")
    p.add_argument("routers", nargs="+")
    p = sub.add_parser("status")
    p.add_argument("names", nargs="+")
    p = sub.add_parser("serve")
    p.add_argument("--port", type=int, required=True)
    p = sub.add_parser("client")
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tcp", type=int, default=2)
    a = ap.parse_args()
    sys.exit({"conf": cmd_conf, "status": cmd_status, "serve": cmd_serve,
              "client": cmd_client}[a.cmd](a))


if __name__ == "__main__":
    main()
