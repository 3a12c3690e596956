#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Helper of nf_ckpt_hardening.sh (python3 stdlib only).

  nf_ckpt_hard.py fdpass
      Run as root.  The capability is checked for the process that opened
      the socket as well as for the one sending: a socket opened by nobody
      and passed to root (SCM_RIGHTS), and one opened by root and used by a
      child that became nobody, must both get EPERM; root on its own socket
      must not.
  nf_ckpt_hard.py gen FILE:N[:FIRST_ID]...
      Save files of N TCP connections each, BASE and L4 records only.
  nf_ckpt_hard.py check-files FILE...
      Every record of each save file has a BASE record of its ID and no
      (ID, layer) comes twice; prints "FILE records ids" per file.
  nf_ckpt_hard.py serve --port P --ready FILE
      TCP echo server on every address (one select loop), FILE once
      listening.
  nf_ckpt_hard.py client --dst A --port P --dir D
      The client side of the traffic, driven by files: for N = 1, 2, ...
      it waits for D/cmd.N, a JSON object, runs it and writes the result
      to D/done.N.  {"op": "open", "tag": T, "n": N}: open N connections
      at once and echo a line on each ({"ok", "fail", "sports"});
      {"op": "ping", "tag": T}: echo again on each; {"op": "close", "tag":
      T}; {"op": "churn", "parallel": C}: C threads open a connection, echo
      a line and close it, over and over; {"op": "churn-end"}: stop them
      ({"ok", "fail"}); {"op": "exit"}.
"""
import json
import os
import select
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nf_ckpt as nk                                     # noqa: E402
import nf_ckpt_fuzz as fz                                # noqa: E402

EPERM = 1


# ---------------------------------------------------------------- perms

def status_errno(sock, fam):
    sock.send(fz.nlmsg(fam, fz.F_REQUEST | fz.F_ACK, 1, fz.genlhdr(fz.CMD_STATUS)))
    while True:
        for t, fl, sq, p in fz.split_msgs(sock.recv()):
            if t == fz.NLMSG_ERROR:
                return fz.err_of(p)


def become_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def cmd_fdpass(argv):
    fam, _ = fz.resolve_family()
    bad = 0
    # 1. opened by nobody, used by root
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    pid = os.fork()
    if pid == 0:
        a.close()
        become_nobody()
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, fz.NETLINK_GENERIC)
        s.bind((0, 0))
        socket.send_fds(b, [b"fd"], [s.fileno()])
        os._exit(0)
    b.close()
    _, fds, _, _ = socket.recv_fds(a, 16, 1)
    os.waitpid(pid, 0)
    s = fz.NlSock.__new__(fz.NlSock)
    s.s = socket.socket(fileno=fds[0])
    s.s.settimeout(30)
    err = status_errno(s, fam)
    print("opened-by-nobody-sent-by-root %s" % (os.strerror(err) if err else "ok"))
    bad += err != EPERM
    # 2. opened by root, used by a child that became nobody
    s = fz.NlSock()
    pid = os.fork()
    if pid == 0:
        try:
            become_nobody()
            code = 100 + status_errno(s, fam)
        except Exception:
            code = 99
        os._exit(code)
    _, st = os.waitpid(pid, 0)
    err = os.waitstatus_to_exitcode(st) - 100
    print("opened-by-root-sent-by-nobody %s" % (os.strerror(err) if err else "ok"))
    bad += err != EPERM
    # 3. control: root on its own socket
    err = status_errno(s, fam)
    print("root %s" % (os.strerror(err) if err else "ok"))
    bad += err != 0
    return 1 if bad else 0


# ---------------------------------------------------------------- files

def cmd_gen(argv):
    """gen FILE:N[:FIRST_ID]...: several files in one go."""
    for spec in argv:
        path, n, *first = spec.split(":")
        first = int(first[0], 0) if first else 1
        recs = []
        for i in range(int(n)):
            recs += nk.conn_records(first + i, i, 0)[:2]      # BASE, L4
        nk.write_file(path, recs)
    return 0


def file_records(path):
    """[((id, layer), fields of the record)] of a save file."""
    data = open(path, "rb").read()
    hdr = nk.HDR.unpack_from(data)
    hlen, nbytes = hdr[2], hdr[5]
    out = []
    for t, rec in nk.parse_attrs(data[hlen:hlen + nbytes]):
        f = dict(nk.parse_attrs(rec))
        out.append(((struct.unpack("<Q", f[nk.REC_ID])[0],
                     struct.unpack("<H", f[nk.REC_LAYER])[0]), f))
    return out


def describe(f):
    """Age, expiry and (L4) TCP state of a record, for a report."""
    age = struct.unpack("<Q", f[nk.REC_AGE])[0] if nk.REC_AGE in f else None
    exp = struct.unpack("<Q", f[nk.REC_EXPIRES])[0] if nk.REC_EXPIRES in f else None
    state = None
    for t, v in nk.parse_attrs(f[nk.REC_PAYLOAD]):
        if t == nk.L4_TCP:
            state = dict(nk.parse_attrs(v)).get(nk.TCP_STATE, b"?")[0]
    return "age=%sms expires=%sms tcp_state=%s" % (age, exp, state)


def cmd_check_files(argv):
    bad = 0
    for path in argv:
        recs = file_records(path)
        keys = {k for k, _ in recs}
        ids = {k[0] for k in keys}
        nobase = sorted(i for i in ids if (i, nk.L_BASE) not in keys)
        dups = len(recs) - len(keys)
        print("%s %d %d%s%s" % (path, len(recs), len(ids),
                                " no-base:%d" % len(nobase) if nobase else "",
                                " duplicates:%d" % dups if dups else ""))
        for k, f in recs:
            if k[0] in nobase[:5]:
                print("  id %d layer %d: %s" % (k[0], k[1], describe(f)))
        bad += bool(nobase or dups)
    return 1 if bad else 0


# ---------------------------------------------------------------- traffic

def cmd_serve(argv):
    port = int(argv[argv.index("--port") + 1])
    ready = argv[argv.index("--ready") + 1]
    ls = []
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        s.listen(1024)
        ls.append(s)
    open(ready, "w").close()
    conns = {}
    while True:
        r, _, _ = select.select(ls + list(conns), [], [])
        for s in r:
            if s in ls:
                c, _ = s.accept()
                conns[c] = True
                continue
            try:
                d = s.recv(4096)
            except OSError:
                d = b""
            if not d:
                s.close()
                del conns[s]
                continue
            try:
                s.sendall(d)
            except OSError:
                s.close()
                del conns[s]


def echo(s, line):
    s.sendall(line)
    got = b""
    while not got.endswith(b"\n"):
        d = s.recv(4096)
        if not d:
            return False
        got += d
    return got == line


class Client:
    """The client side, one process for the whole test (python starts take
    seconds under TCG): connections held open by tag, and churn threads."""

    def __init__(self, dst, port):
        self.dst, self.port = dst, port
        self.held = {}
        self.churn_stop = threading.Event()
        self.churn_threads = []
        self.counts = {"ok": 0, "fail": 0}
        self.lock = threading.Lock()

    def open(self, tag, n):
        socks, fail, pending = [], 0, []
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((self.dst, self.port))
            pending.append(s)
        deadline = time.monotonic() + 120
        while pending and time.monotonic() < deadline:
            _, w, _ = select.select([], pending, [], 1)
            for s in w:
                pending.remove(s)
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    fail += 1
                    s.close()
                else:
                    s.setblocking(True)
                    s.settimeout(60)
                    socks.append(s)
        fail += len(pending)
        for s in pending:
            s.close()
        self.held[tag] = socks
        res = self.ping(tag, b"hello")
        res["fail"] += fail
        res["sports"] = [s.getsockname()[1] for s in socks]
        return res

    def ping(self, tag, word=b"again"):
        ok = bad = 0
        for s in self.held[tag]:
            try:
                if echo(s, b"%s %d\n" % (word, s.getsockname()[1])):
                    ok += 1
                else:
                    bad += 1
            except OSError:
                bad += 1
        return {"ok": ok, "fail": bad}

    def close(self, tag):
        for s in self.held.pop(tag):
            s.close()
        return {}

    def churn_worker(self):
        while not self.churn_stop.is_set():
            try:
                with socket.create_connection((self.dst, self.port), timeout=30) as s:
                    good = echo(s, b"churn\n")
            except OSError:
                good = False
            with self.lock:
                self.counts["ok" if good else "fail"] += 1

    def churn(self, parallel):
        self.churn_threads = [threading.Thread(target=self.churn_worker)
                              for _ in range(parallel)]
        for t in self.churn_threads:
            t.start()
        return {}

    def churn_end(self):
        self.churn_stop.set()
        for t in self.churn_threads:
            t.join()
        return dict(self.counts)


def cmd_client(argv):
    opt = dict(zip(argv[::2], argv[1::2]))
    c = Client(opt["--dst"], int(opt["--port"]))
    d = opt["--dir"]
    n = 0
    while True:
        n += 1
        path = os.path.join(d, "cmd.%d" % n)
        while not os.path.exists(path):
            time.sleep(0.05)
        cmd = json.load(open(path))
        op = cmd.pop("op")
        if op == "exit":
            res = {}
        else:
            res = getattr(c, op.replace("-", "_"))(**cmd)
        with open(os.path.join(d, "done.%d.tmp" % n), "w") as f:
            json.dump(res, f)
        os.rename(os.path.join(d, "done.%d.tmp" % n), os.path.join(d, "done.%d" % n))
        if op == "exit":
            return 0


def main():
    cmds = {"fdpass": cmd_fdpass, "gen": cmd_gen,
            "check-files": cmd_check_files, "serve": cmd_serve, "client": cmd_client}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
