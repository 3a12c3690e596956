#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Traffic for nf_ckpt_soak.sh (python3 stdlib only).

Long-lived TCP flows that both send a known byte stream at a low rate, and
a stream of short connections (TCP and UDP request/response), for as long
as a soak lasts.  One process per side: under TCG every process start
costs a second or more.

  nf_ckpt_soak.py serve --dir D LISTEN...
      LISTEN is KIND,ADDR,PORT; KIND long, short (TCP) or udp.  Creates
      D/serve.ready once all listen.
      long: per connection, a 12-byte header (flow index, rate in bytes/s,
      unused) from the client; then the server sends stream (index, 1) at
      that rate and checks that what it receives is stream (index, 0).  When
      the client's half arrives at EOF it stops sending, half-closes and
      writes D/srv-INDEX.json: rx and tx byte counts and sha256s, the first
      error ("err", null if none).  D/srv-INDEX.st: {"rx", "last_rx"},
      every 0.5 s while it lasts.
      short: per connection, read one line, answer with its sha256, close.
      udp: answer every datagram with its sha256.

  nf_ckpt_soak.py fetch --dir D [--rate R] FLOW...
      FLOW is long,NAME,ADDR,PORT,INDEX or short,NAME,tcp|udp,ADDR,PORT,GAP.
      long: connect, send the header, then stream (INDEX, 0) at R bytes/s
      while checking that what comes back is stream (INDEX, 1), byte by
      byte.  D/NAME.st is rewritten every 0.5 s: {"rx", "tx", "last_rx",
      "sport", "err", "done"}.  Once D/stop.long exists: stop sending,
      half-close, read to EOF (at most 120 s), final D/NAME.st with
      done, reason (eof, early-eof, error, timeout, aborted), rx/tx counts
      and sha256s.  D/NAME.abort ends the flow at once (aborted).
      short: until D/stop.short exists, every GAP seconds a new connection
      (a new UDP socket) sends a random line and checks the answer (5 s
      timeout).  D/NAME.st: {"ok", "fail", "last_ok", "last_err"}.
      Creates D/fetch.connected once every long flow is connected.

Streams: byte k of stream (i, d) is byte k mod 65521 (a prime, so that the
period lines up with no chunk size) of a block drawn from a PRNG seeded
with (i, d).  A lost, duplicated or reordered byte is an error at once.
"""
import argparse
import hashlib
import json
import os
import random
import select
import socket
import struct
import sys
import threading
import time

PERIOD = 65521
HDR = struct.Struct("!III")
CHUNK = 512


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


class Stream:
    """Stream (index, direction): generator and checker."""

    def __init__(self, index, direction):
        block = random.Random(index * 2 + direction + 0x5eed).randbytes(PERIOD)
        self.twice = block + block
        self.off = 0
        self.sha = hashlib.sha256()

    def take(self, n):
        """The next n (<= PERIOD) bytes, to send."""
        o = self.off % PERIOD
        data = self.twice[o:o + n]
        self.off += n
        self.sha.update(data)
        return data

    def check(self, data):
        """Account received data; returns the offset of the first wrong
        byte, or None."""
        pos = 0
        while pos < len(data):
            o = self.off % PERIOD
            n = min(len(data) - pos, PERIOD)
            if data[pos:pos + n] != self.twice[o:o + n]:
                for k in range(n):
                    if data[pos + k] != self.twice[o + k]:
                        return self.off + k
            self.sha.update(data[pos:pos + n])
            self.off += n
            pos += n
        return None


class Pacer:
    def __init__(self, rate):
        self.rate = float(rate)
        self.t = time.monotonic()

    def wait(self, n):
        # At most a second of credit: after a stall, no burst beyond that.
        now = time.monotonic()
        self.t = max(self.t, now - 1.0) + n / self.rate
        if self.t > now:
            time.sleep(self.t - now)


def sender(sock, stream, rate, stop, state):
    pacer = Pacer(rate)
    try:
        while not stop.is_set():
            pacer.wait(CHUNK)
            if stop.is_set():
                break
            sock.sendall(stream.take(CHUNK))
            state["tx"] = stream.off
        sock.shutdown(socket.SHUT_WR)
    except OSError as e:
        state.setdefault("err", "send: %s" % e)
    state["tx_done"] = True


# ------------------------------------------------------------------ serve
def serve_long_conn(a, conn):
    state = {}
    try:
        hdr = b""
        conn.settimeout(30)
        while len(hdr) < HDR.size:
            d = conn.recv(HDR.size - len(hdr))
            if not d:
                return
            hdr += d
        index, rate, _ = HDR.unpack(hdr)
        conn.settimeout(None)
    except OSError:
        conn.close()
        return
    out = Stream(index, 1)
    inp = Stream(index, 0)
    stop = threading.Event()
    t = threading.Thread(target=sender, args=(conn, out, rate, stop, state), daemon=True)
    t.start()
    err = None
    st_path = os.path.join(a.dir, "srv-%d.st" % index)
    next_st = 0.0
    try:
        while True:
            # The socket stays blocking (no timeout) for the sender's sake.
            r, _, _ = select.select([conn], [], [], 0.5)
            d = conn.recv(65536) if r else None
            if d == b"":
                break
            if d:
                bad = inp.check(d)
                if bad is not None:
                    err = "received byte %d is wrong" % bad
                    break
            now = time.monotonic()
            if now >= next_st:
                next_st = now + 0.5
                write_json(st_path, {"rx": inp.off, "last_rx": time.time()})
    except OSError as e:
        err = "recv: %s" % e
    stop.set()
    t.join(30)
    conn.close()
    write_json(os.path.join(a.dir, "srv-%d.json" % index), {
        "rx": inp.off, "rx_sha256": inp.sha.hexdigest(), "tx": out.off,
        "tx_sha256": out.sha.hexdigest(), "err": err or state.get("err")})


def serve_long(a, ls):
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=serve_long_conn, args=(a, conn), daemon=True).start()


def serve_short(a, ls):
    while True:
        try:
            conn, _ = ls.accept()
        except OSError:
            continue
        try:
            conn.settimeout(5)
            line = b""
            while not line.endswith(b"\n") and len(line) < 256:
                d = conn.recv(256)
                if not d:
                    break
                line += d
            conn.sendall(hashlib.sha256(line).hexdigest().encode() + b"\n")
        except OSError:
            pass
        conn.close()


def serve_udp(a, s):
    while True:
        try:
            msg, peer = s.recvfrom(2048)
            s.sendto(hashlib.sha256(msg).hexdigest().encode(), peer)
        except OSError:
            pass


def cmd_serve(a):
    threads = []
    for spec in a.listen:
        kind, addr, port = spec.split(",")
        fam = family_of(addr)
        if kind == "udp":
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.bind((addr, int(port)))
            fn = serve_udp
        else:
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, int(port)))
            s.listen(64)
            fn = serve_long if kind == "long" else serve_short
        threads.append(threading.Thread(target=fn, args=(a, s), daemon=True))
    for t in threads:
        t.start()
    write_json(os.path.join(a.dir, "serve.ready"), {})
    while True:
        time.sleep(3600)


# ------------------------------------------------------------------ fetch
class Long:
    def __init__(self, a, name, addr, port, index):
        self.a, self.name, self.addr, self.port = a, name, addr, int(port)
        self.index = int(index)
        self.path = os.path.join(a.dir, name + ".st")
        self.state = {"rx": 0, "tx": 0, "last_rx": None, "sport": None,
                      "err": None, "done": False}
        self.connected = False

    def status(self, **extra):
        self.state.update(extra)
        write_json(self.path, self.state)

    def run(self):
        try:
            self.flow()
        except OSError as e:
            self.state["err"] = self.state["err"] or "%s" % e
            self.status(done=True, reason="error")
        self.connected = True

    def flow(self):
        st = self.state
        s = socket.socket(family_of(self.addr), socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect((self.addr, self.port))
        st["sport"] = s.getsockname()[1]
        s.sendall(HDR.pack(self.index, int(self.a.rate), 0))
        out = Stream(self.index, 0)
        inp = Stream(self.index, 1)
        stop = threading.Event()
        snd = {}
        t = threading.Thread(target=sender, args=(s, out, self.a.rate, stop, snd), daemon=True)
        t.start()
        self.connected = True
        self.status()
        s.settimeout(None)    # blocking sends; receives after select()
        stop_path = os.path.join(self.a.dir, "stop.long")
        abort_path = os.path.join(self.a.dir, self.name + ".abort")
        next_st = 0.0
        deadline = None
        reason = None
        while reason is None:
            try:
                r, _, _ = select.select([s], [], [], 0.5)
                d = s.recv(65536) if r else None
                if d == b"":
                    reason = "eof"
                elif d:
                    bad = inp.check(d)
                    st["rx"] = inp.off
                    st["last_rx"] = time.time()
                    if bad is not None:
                        st["err"] = "received byte %d is wrong" % bad
                        reason = "error"
            except OSError as e:
                st["err"] = "recv: %s" % e
                reason = "error"
            st["tx"] = out.off
            if snd.get("err") and not st["err"]:
                st["err"] = snd["err"]
            now = time.monotonic()
            if os.path.exists(abort_path):
                reason = "aborted"
                break
            if deadline is None and os.path.exists(stop_path):
                stop.set()
                deadline = now + 120
            if deadline is not None and now > deadline:
                reason = "timeout"
            if now >= next_st:
                next_st = now + 0.5
                self.status()
        stop.set()
        if reason == "aborted":
            try:
                s.shutdown(socket.SHUT_RDWR)    # wakes a blocked sendall
            except OSError:
                pass
        t.join(30)
        s.close()
        if reason == "eof" and not stop.is_set():
            reason = "early-eof"
        self.status(done=True, reason=reason, tx=out.off, rx=inp.off,
                    tx_sha256=out.sha.hexdigest(), rx_sha256=inp.sha.hexdigest(),
                    tx_done=bool(snd.get("tx_done")))


class Short:
    def __init__(self, a, name, proto, addr, port, gap):
        self.a, self.name, self.proto, self.addr = a, name, proto, addr
        self.port, self.gap = int(port), float(gap)
        self.path = os.path.join(a.dir, name + ".st")
        self.state = {"ok": 0, "fail": 0, "last_ok": None, "last_err": None}
        self.connected = True

    def once(self):
        token = os.urandom(16).hex().encode() + b"\n"
        want = hashlib.sha256(token).hexdigest().encode()
        kind = socket.SOCK_STREAM if self.proto == "tcp" else socket.SOCK_DGRAM
        s = socket.socket(family_of(self.addr), kind)
        try:
            s.settimeout(5)
            s.connect((self.addr, self.port))
            if self.proto == "tcp":
                s.sendall(token)
                got = b""
                while not got.endswith(b"\n"):
                    d = s.recv(256)
                    if not d:
                        break
                    got += d
                got = got.strip()
            else:
                s.send(token)
                got = s.recv(256)
            if got != want:
                raise OSError("wrong answer %r" % got[:80])
        finally:
            s.close()

    def run(self):
        st = self.state
        stop_path = os.path.join(self.a.dir, "stop.short")
        while not os.path.exists(stop_path):
            t0 = time.monotonic()
            try:
                self.once()
                st["ok"] += 1
                st["last_ok"] = time.time()
            except OSError as e:
                st["fail"] += 1
                st["last_err"] = "%s" % e
            write_json(self.path, st)
            left = self.gap - (time.monotonic() - t0)
            if left > 0:
                time.sleep(left)
        write_json(self.path, dict(st, done=True))


def cmd_fetch(a):
    flows = []
    for spec in a.flows:
        f = spec.split(",")
        if f[0] == "long":
            flows.append(Long(a, *f[1:]))
        else:
            flows.append(Short(a, *f[1:]))
    longs = [f for f in flows if isinstance(f, Long)]
    for f in longs:
        f.status()
    threads = [threading.Thread(target=f.run) for f in flows]
    for t in threads:
        t.start()
    while not all(f.connected for f in longs):
        time.sleep(0.05)
    write_json(os.path.join(a.dir, "fetch.connected"), {})
    for t in threads:
        t.join()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--dir", required=True)
    p.add_argument("listen", nargs="+")
    p = sub.add_parser("fetch")
    p.add_argument("--dir", required=True)
    p.add_argument("--rate", type=float, default=4096)
    p.add_argument("flows", nargs="+")
    a = ap.parse_args()
    sys.exit({"serve": cmd_serve, "fetch": cmd_fetch}[a.cmd](a))


if __name__ == "__main__":
    main()
