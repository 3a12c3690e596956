#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Transfer and packet tool for the nfckpt crash tests (python3 stdlib only).

Several flows per process (one thread each): under TCG every process start
costs a second or more.

  nf_ckpt_xfer.py serve --dir D [--go FILE] NAME,PROTO,ADDR,PORT,FILE,SIZE,RATE...
      Listen for every flow, then create D/serve.ready.  TCP: accept one
      connection, send the first SIZE bytes of FILE paced at RATE bytes/s
      (token bucket, a quarter
      second of burst), half-close, wait for the peer to close.  UDP: wait
      for a "GO" datagram, send them as numbered datagrams (seq, send time,
      1000 bytes of payload) paced at RATE, then a few END markers.
      --go: once the peer is there, wait for FILE to exist before sending.
      D/NAME.srv gets JSON: the peer as accepted ("peer"), bytes sent and,
      for UDP, the send time of every datagram ("times").

  nf_ckpt_xfer.py fetch --dir D [--idle S] [--deadline S] [--mark PCT,FILE]
                        [--samples S] NAME,PROTO,ADDR,PORT,FILE,SIZE[,MARK]...
      The receiving side (the client: it opens the flows); what it receives
      must be the first SIZE bytes of FILE (sha256).  Creates
      D/fetch.connected once every flow is connected (UDP: bound), FILE of
      --mark once every flow has received PCT percent (or MARK bytes).  D/NAME.st is
      rewritten every 0.2 s with {"bytes", "sport", "last_rx", "done":
      false}, at the end with the summary: done, reason (eof, end, idle,
      deadline, error, stopped), bytes, sha256, ok, gaps (every pause > 0.2 s
      between two received chunks: [start, end], epoch seconds), max_gap;
      UDP also dgrams: [seq, send time, arrival time] of every datagram.
      --idle: give up after S seconds without data once data came (the
      flow died); --deadline: give up after S seconds in all.  A flow stops
      when D/NAME.stop appears.  --samples: every S seconds (and at the end)
      record [time, bytes received so far] per flow, kept as "samples" in
      the summary.

  nf_ckpt_xfer.py report --dir D --crash T [--resume T2] NAME...
      One line "NAME KEY VALUE" per fact of each finished flow: bytes size
      ok reason max_gap stall (longest pause ending after T, or still open
      when the flow gave up; "<0.20" if none was longer); UDP: sent_crash/delivered_crash (datagrams
      sent after T, and how many of them arrived), sent_after and
      delivered_after (the same after T2, service back).

  nf_ckpt_xfer.py series --dir D --t0 T NAME
      The samples of a finished flow (fetch --samples) as a table for
      gnuplot: seconds since T, MiB received, throughput in KiB/s since the
      previous sample (a starved client shows as a longer interval at the
      average rate, not as a gap).

  nf_ckpt_xfer.py raw --iface IF --src A --sport P --dst B --dport Q
                      --mode in|far [--timeout S]
      Sniff one ACK of the TCP flow A:P -> B:Q leaving IF (AF_PACKET), then
      send a segment of the same flow with a raw IPv4 socket (IP_HDRINCL,
      both checksums computed here): "in" is a copy of the sniffed ACK (in
      window), "far" carries 64 bytes 1 GiB beyond the sniffed sequence
      number (far outside any window).  Prints JSON.

  nf_ckpt_xfer.py pcap-peers --pcap F --dst ADDR --dport P --time T
      Sources (addr:port) of the IPv4 TCP segments to ADDR:P in a tcpdump -w
      capture, split at T: JSON {"before": {src: n}, "after": {src: n}}.
"""
import argparse
import hashlib
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time

GAP_MIN = 0.2
UDP_HDR = struct.Struct("!Qd")
UDP_END = 0xFFFFFFFFFFFFFFFF
UDP_PAYLOAD = 1000
SO_RCVBUFFORCE = 33


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def touch(path):
    with open(path, "w"):
        pass


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def any_addr(fam):
    return "::" if fam == socket.AF_INET6 else "0.0.0.0"


class Pacer:
    """Token bucket: rate bytes/s, at most a quarter second of burst."""

    def __init__(self, rate, chunk):
        self.rate = float(rate)
        self.cap = max(chunk, self.rate / 4)
        self.tokens = chunk
        self.last = time.monotonic()

    def wait(self, n):
        while True:
            now = time.monotonic()
            self.tokens = min(self.cap, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= n:
                self.tokens -= n
                return
            time.sleep((n - self.tokens) / self.rate)


# ------------------------------------------------------------------ serve
class Server:
    def __init__(self, spec, a):
        self.name, self.proto, self.addr, port, self.file, size, rate = spec.split(",")
        self.port, self.size, self.rate, self.a = int(port), int(size), float(rate), a
        self.log_path = os.path.join(a.dir, self.name + ".srv")
        kind = socket.SOCK_STREAM if self.proto == "tcp" else socket.SOCK_DGRAM
        self.sock = socket.socket(family_of(self.addr), kind)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.addr, self.port))
        if self.proto == "tcp":
            self.sock.listen(1)

    def wait_go(self):
        while self.a.go and not os.path.exists(self.a.go):
            time.sleep(0.02)

    def run(self):
        try:
            with open(self.file, "rb") as f:
                data = f.read(self.size)
            if self.proto == "tcp":
                self.tcp(data)
            else:
                self.udp(data)
        except OSError as e:
            write_json(self.log_path + ".err", {"error": str(e)})

    def tcp(self, data):
        s, peer = self.sock.accept()
        self.sock.close()
        log = {"peer": [peer[0], peer[1]], "sent": 0, "t_accept": time.time()}
        write_json(self.log_path, log)
        self.wait_go()
        chunk = 16384
        pacer = Pacer(self.rate, chunk)
        off = 0
        while off < len(data):
            n = min(chunk, len(data) - off)
            pacer.wait(n)
            s.sendall(data[off:off + n])
            off += n
        log["sent"] = off
        log["t_sent"] = time.time()
        write_json(self.log_path, log)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(120)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()

    def udp(self, data):
        s = self.sock
        while True:
            msg, peer = s.recvfrom(2048)
            if msg.startswith(b"GO"):
                break
        s.connect(peer)
        log = {"peer": [peer[0], peer[1]], "sent": 0, "times": []}
        self.log = log
        write_json(self.log_path, log)
        self.wait_go()
        pacer = Pacer(self.rate, UDP_PAYLOAD + UDP_HDR.size)
        seq = 0
        for off in range(0, len(data), UDP_PAYLOAD):
            payload = data[off:off + UDP_PAYLOAD]
            pacer.wait(len(payload) + UDP_HDR.size)
            now = time.time()
            try:
                s.send(UDP_HDR.pack(seq, now) + payload)
            except OSError:
                pass
            log["times"].append(now)
            seq += 1
        log["sent"] = seq
        log["t_sent"] = time.time()
        write_json(self.log_path, log)
        for _ in range(5):
            try:
                s.send(UDP_HDR.pack(UDP_END, time.time()))
            except OSError:
                pass
            time.sleep(0.2)
        s.close()


def cmd_serve(a):
    servers = [Server(spec, a) for spec in a.flows]

    def stop(signum, frame):
        # Killed while a dead flow still sends: keep what the UDP log knows.
        for srv in servers:
            log = getattr(srv, "log", None)
            if log is not None:
                log["sent"] = len(log["times"])
                write_json(srv.log_path, log)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    touch(os.path.join(a.dir, "serve.ready"))
    threads = [threading.Thread(target=s.run, daemon=True) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.5)
    return 0


# ------------------------------------------------------------------ fetch
class Fetch:
    def __init__(self, spec, a):
        self.name, self.proto, self.addr, port, path, size, *mark = spec.split(",")
        self.port, self.size, self.a = int(port), int(size), a
        pct = float(a.mark.split(",")[0]) if a.mark else 100
        self.mark_bytes = int(mark[0]) if mark else pct * self.size / 100
        with open(path, "rb") as f:
            self.sha = hashlib.sha256(f.read(self.size)).hexdigest()
        self.status_path = os.path.join(a.dir, self.name + ".st")
        self.stop_path = os.path.join(a.dir, self.name + ".stop")
        self.bytes = 0
        self.h = hashlib.sha256()
        self.gaps = []
        self.max_gap = 0.0
        self.t_start = time.time()
        self.last_rx = None
        self.first_rx = None
        self.next_status = 0.0
        self.sport = None
        self.connected = False
        self.done = False
        self.dgrams = []
        self.samples = [] if a.samples else None
        self.next_sample = 0.0

    def sample(self, force=False):
        if self.samples is None:
            return
        now = time.time()
        if force or now >= self.next_sample:
            # Never closer than the interval: a late sample followed by
            # an early one would show a burst that is not there.
            self.next_sample = now + self.a.samples
            self.samples.append([now, self.bytes])

    def got(self, data):
        now = time.time()
        if self.last_rx is None:
            self.first_rx = now
        else:
            gap = now - self.last_rx
            if gap > GAP_MIN:
                self.gaps.append([self.last_rx, now])
            self.max_gap = max(self.max_gap, gap)
        self.last_rx = now
        self.bytes += len(data)
        self.h.update(data)
        return now

    def status(self, force=False):
        now = time.monotonic()
        if force or now >= self.next_status:
            self.next_status = now + 0.2
            write_json(self.status_path, {"done": False, "bytes": self.bytes,
                                          "sport": self.sport,
                                          "last_rx": self.last_rx})

    def idle_for(self):
        if self.last_rx is None:
            return 0.0
        return time.time() - self.last_rx

    def finish(self, reason, extra=None):
        self.sample(force=True)
        sha = self.h.hexdigest()
        ok = self.bytes == self.size and sha == self.sha
        out = {"done": True, "bytes": self.bytes, "sport": self.sport,
               "reason": reason, "size": self.size, "sha256": sha, "ok": ok,
               "gaps": self.gaps, "max_gap": self.max_gap,
               "t_start": self.t_start, "first_rx": self.first_rx,
               "last_rx": self.last_rx, "t_end": time.time()}
        if self.proto == "udp":
            out["dgrams"] = self.dgrams
        if self.samples is not None:
            out["samples"] = self.samples
        if extra:
            out.update(extra)
        write_json(self.status_path, out)
        self.done = True

    def run(self):
        try:
            if self.proto == "tcp":
                self.tcp()
            else:
                self.udp()
        except OSError as e:
            self.finish("error", {"error": str(e)})
        self.connected = True

    def tcp(self):
        s = socket.socket(family_of(self.addr), socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect((self.addr, self.port))
        self.sport = s.getsockname()[1]
        s.setblocking(False)
        self.status(force=True)
        self.connected = True
        self.sample(force=True)
        deadline = time.time() + self.a.deadline
        while True:
            r, _, _ = select.select([s], [], [], 0.1)
            if r:
                try:
                    data = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    data = None
                except OSError as e:
                    return self.finish("error", {"error": str(e)})
                if data == b"":
                    s.close()
                    return self.finish("eof")
                if data:
                    self.got(data)
            if self.check_end(deadline):
                s.close()
                return

    def check_end(self, deadline):
        self.status()
        self.sample()
        if os.path.exists(self.stop_path):
            self.finish("stopped")
        elif self.idle_for() > self.a.idle:
            self.finish("idle")
        elif time.time() > deadline:
            self.finish("deadline")
        return self.done

    def udp(self):
        fam = family_of(self.addr)
        s = socket.socket(fam, socket.SOCK_DGRAM)
        # A loaded TCG guest can starve this thread for seconds: room for
        # them (SO_RCVBUFFORCE, root, past rmem_max).
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.bind((any_addr(fam), 0))
        s.connect((self.addr, self.port))
        self.sport = s.getsockname()[1]
        self.status(force=True)
        self.connected = True
        deadline = time.time() + self.a.deadline
        next_go = 0.0
        while True:
            # Ask until the stream starts, never after: a datagram from
            # the client would re-open the flow by itself after a flush.
            if self.last_rx is None and time.monotonic() >= next_go:
                next_go = time.monotonic() + 0.5
                try:
                    s.send(b"GO")
                except OSError:
                    pass
            r, _, _ = select.select([s], [], [], 0.1)
            if r:
                try:
                    msg = s.recv(4096)
                except OSError:
                    msg = b""
                if len(msg) >= UDP_HDR.size:
                    seq, sent = UDP_HDR.unpack_from(msg)
                    if seq == UDP_END:
                        return self.finish("end")
                    now = self.got(msg[UDP_HDR.size:])
                    self.dgrams.append([seq, sent, now])
            if self.check_end(deadline):
                s.close()
                return


def cmd_fetch(a):
    fetches = [Fetch(spec, a) for spec in a.flows]
    threads = [threading.Thread(target=f.run) for f in fetches]
    for t in threads:
        t.start()
    mark_file = a.mark.split(",", 1)[1] if a.mark else None
    connected = marked = False
    while any(t.is_alive() for t in threads):
        if not connected and all(f.connected for f in fetches):
            touch(os.path.join(a.dir, "fetch.connected"))
            connected = True
        if mark_file and not marked and \
                all(f.bytes >= f.mark_bytes or f.done for f in fetches):
            touch(mark_file)
            marked = True
        time.sleep(0.05)
    for t in threads:
        t.join()
    if not connected:
        touch(os.path.join(a.dir, "fetch.connected"))
    if mark_file and not marked:
        touch(mark_file)
    return 0 if all(f.bytes == f.size for f in fetches) else 1


# ------------------------------------------------------------------ report
def report_one(a, name):
    with open(os.path.join(a.dir, name + ".st")) as f:
        st = json.load(f)
    crash = a.crash
    resume = a.resume if a.resume is not None else crash
    # The pause the crash caused: the longest that ends after the crash,
    # or the one still open when the flow gave up.
    gaps = [g[1] - max(g[0], crash) for g in st.get("gaps", []) if g[1] > crash]
    if st.get("reason") in ("idle", "deadline", "error"):
        last = st.get("last_rx") or st.get("t_start")
        gaps.append(st["t_end"] - max(last, crash))
    stall = "%.2f" % max(gaps) if gaps else "<%.2f" % GAP_MIN
    out = [("bytes", st.get("bytes", 0)), ("size", st.get("size", 0)),
           ("ok", 1 if st.get("ok") else 0), ("reason", st.get("reason", "none")),
           ("max_gap", "%.2f" % st.get("max_gap", 0.0)), ("stall", stall)]
    if "dgrams" in st:
        dg = st["dgrams"]
        out += [("received", len(dg)),
                ("delivered_crash", sum(1 for d in dg if d[1] > crash)),
                ("delivered_after", sum(1 for d in dg if d[1] > resume))]
        try:
            with open(os.path.join(a.dir, name + ".srv")) as f:
                times = json.load(f).get("times", [])
        except (OSError, ValueError):
            times = []
        out += [("sent", len(times)),
                ("sent_crash", sum(1 for t in times if t > crash)),
                ("sent_after", sum(1 for t in times if t > resume))]
    for k, v in out:
        print(name, k, v)


def cmd_report(a):
    for name in a.names:
        try:
            report_one(a, name)
        except (OSError, ValueError) as e:
            print(name, "reason", "no-status:%s" % type(e).__name__)
    return 0


# ------------------------------------------------------------------ series
def cmd_series(a):
    with open(os.path.join(a.dir, a.name + ".st")) as f:
        samples = json.load(f).get("samples") or []
    print("# seconds since %.3f, MiB received, KiB/s since the previous sample"
          % a.t0)
    prev = None
    for t, n in samples:
        rate = 0.0
        if prev and t > prev[0]:
            rate = (n - prev[1]) / 1024.0 / (t - prev[0])
        print("%.3f %.4f %.1f" % (t - a.t0, n / 1048576.0, rate))
        prev = (t, n)
    return 0


# ------------------------------------------------------------------ raw
ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def sniff(a):
    # Only ETH_P_ALL sockets see outgoing packets.
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((a.iface, ETH_P_ALL))
    src, dst = socket.inet_aton(a.src), socket.inet_aton(a.dst)
    deadline = time.time() + a.timeout
    try:
        while time.time() < deadline:
            r, _, _ = select.select([s], [], [], 0.2)
            if not r:
                continue
            frame = s.recv(65535)
            if len(frame) < 54 or struct.unpack_from("!H", frame, 12)[0] != ETH_P_IP:
                continue
            ip = frame[14:]
            if ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_TCP:
                continue
            if ip[12:16] != src or ip[16:20] != dst:
                continue
            ihl = (ip[0] & 0xF) * 4
            sport, dport, seq, ack, off, flags, win = struct.unpack_from("!HHIIBBH", ip, ihl)
            if sport != a.sport or dport != a.dport or not flags & TCP_ACK:
                continue
            if flags & (TCP_SYN | TCP_FIN | TCP_RST):
                continue
            tot = struct.unpack_from("!H", ip, 2)[0]
            return {"seq": seq, "ack": ack, "win": win, "flags": flags,
                    "len": tot - ihl - (off >> 4) * 4}
    finally:
        s.close()
    return None


def build(src, dst, sport, dport, seq, ack, flags, win, payload):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, win, 0, 0)
    pseudo = struct.pack("!4s4sBBH", src, dst, 0, socket.IPPROTO_TCP, len(tcp) + len(payload))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp + payload)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload),
                     0x4242, 0x4000, 64, socket.IPPROTO_TCP, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + tcp + payload


def cmd_raw(a):
    seen = sniff(a)
    if not seen:
        print(json.dumps({"error": "no segment of the flow seen"}))
        return 1
    if a.mode == "in":
        seq, flags, payload = seen["seq"], TCP_ACK, b""
    else:
        seq = (seen["seq"] + (1 << 30)) & 0xFFFFFFFF
        flags, payload = TCP_ACK | TCP_PSH, b"x" * 64
    src, dst = socket.inet_aton(a.src), socket.inet_aton(a.dst)
    pkt = build(src, dst, a.sport, a.dport, seq, seen["ack"], flags, seen["win"], payload)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    s.sendto(pkt, (a.dst, 0))
    s.close()
    print(json.dumps({"sniffed": seen, "sent": {"seq": seq, "ack": seen["ack"],
                                                "flags": flags, "len": len(payload)}}))
    return 0


# ------------------------------------------------------------------ pcap
def cmd_pcap_peers(a):
    out = {"before": {}, "after": {}}
    with open(a.pcap, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            print(json.dumps(out))
            return 0
        endian = "<" if struct.unpack("<I", hdr[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        magic = struct.unpack(endian + "I", hdr[:4])[0]
        frac = 1e-9 if magic == 0xA1B23C4D else 1e-6
        l2 = 16 if struct.unpack(endian + "I", hdr[20:24])[0] == 113 else 14
        dst = socket.inet_aton(a.dst)
        while True:
            rh = f.read(16)
            if len(rh) < 16:
                break
            sec, sub, incl, _ = struct.unpack(endian + "IIII", rh)
            ip = f.read(incl)[l2:]
            if len(ip) < 24 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_TCP:
                continue
            ihl = (ip[0] & 0xF) * 4
            if ip[16:20] != dst or len(ip) < ihl + 4:
                continue
            sport, dport = struct.unpack_from("!HH", ip, ihl)
            if dport != a.dport:
                continue
            key = "%s:%d" % (socket.inet_ntoa(ip[12:16]), sport)
            side = out["after"] if sec + sub * frac > a.time else out["before"]
            side[key] = side.get(key, 0) + 1
    print(json.dumps(out))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("serve")
    p.add_argument("--dir", required=True)
    p.add_argument("--go")
    p.add_argument("flows", nargs="+")

    p = sub.add_parser("fetch")
    p.add_argument("--dir", required=True)
    p.add_argument("--idle", type=float, default=30)
    p.add_argument("--deadline", type=float, default=120)
    p.add_argument("--mark")
    p.add_argument("--samples", type=float)
    p.add_argument("flows", nargs="+")

    p = sub.add_parser("report")
    p.add_argument("--dir", required=True)
    p.add_argument("--crash", type=float, required=True)
    p.add_argument("--resume", type=float)
    p.add_argument("names", nargs="+")

    p = sub.add_parser("series")
    p.add_argument("--dir", required=True)
    p.add_argument("--t0", type=float, required=True)
    p.add_argument("name")

    p = sub.add_parser("raw")
    p.add_argument("--iface", required=True)
    p.add_argument("--src", required=True)
    p.add_argument("--sport", type=int, required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--dport", type=int, required=True)
    p.add_argument("--mode", choices=("in", "far"), required=True)
    p.add_argument("--timeout", type=float, default=10)

    p = sub.add_parser("pcap-peers")
    p.add_argument("--pcap", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--dport", type=int, required=True)
    p.add_argument("--time", type=float, required=True)

    a = ap.parse_args()
    fn = {"serve": cmd_serve, "fetch": cmd_fetch, "report": cmd_report,
          "series": cmd_series, "raw": cmd_raw, "pcap-peers": cmd_pcap_peers}[a.cmd]
    sys.exit(fn(a))


if __name__ == "__main__":
    main()
