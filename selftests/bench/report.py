#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Print the table of a bench results.json (scripts/bench, run.sh)."""
import json
import sys


def f(v, fmt="%.2f", none="-"):
    return none if v is None else fmt % v


def met(ok):
    return "met" if ok else "MISSED"


def si(v, unit):
    if v is None:
        return "-"
    for div, p in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return "%.2f %s%s" % (v / div, p, unit)
    return "%.0f %s" % (v, unit)


def main():
    r = json.load(open(sys.argv[1]))
    env, host = r.get("env", {}), r.get("host", {})
    out = []
    p = out.append
    p("nfckpt bench: %s, %s, %s guest CPUs, %d MB guest; host %s CPUs (%s), shared"
      % (env.get("kernel"), host.get("accel", "TCG"), env.get("guest_cpus"),
         env.get("guest_mem_kb", 0) // 1024, host.get("cpus", "?"), host.get("cpu", "?")))
    p("command: %s (git %s, %s)%s" % (host.get("command", "?"), host.get("git", "?"),
                                      host.get("date", "?"),
                                      "  [QUICK: smoke test]" if env.get("quick") else ""))
    if host.get("modules_sha256"):
        p("modules: %s" % host["modules_sha256"])
    fa = r.get("fast")
    if fa:
        p("")
        p("fast path, nfckpt unloaded vs loaded, interleaved, median of %d" % fa["reps"])
        p("  %-34s %14s %14s %7s %7s  %s" % ("", "off", "on", "ratio", "goal", ""))
        for key, name, unit in (("throughput", "TCP throughput (iperf3 %ds)" % fa["iperf_secs"], "bit/s"),
                                ("newconn", "new connections (connrate %ds)" % fa["conn_secs"], "conn/s")):
            x = fa[key]
            ratio = x.get("ratio")
            p("  %-34s %14s %14s %7s %7s  %s" % (
                name, si(x["median_off"], unit), si(x["median_on"], unit), f(ratio, "%.3f"),
                ">=%.2f" % x["goal"], "-" if ratio is None else met(ratio >= x["goal"])))
            pairs = sorted(b / a for a, b in zip(x["off"], x["on"]) if a)
            pm = None
            if pairs:
                k = len(pairs)
                pm = pairs[k // 2] if k % 2 else (pairs[k // 2 - 1] + pairs[k // 2]) / 2
            p("  %-34s off %s / on %s" % ("  runs", " ".join(si(v, "") for v in x["off"]),
                                          " ".join(si(v, "") for v in x["on"])))
            p("  %-34s median %s, range %s .. %s" % ("  on/off of each adjacent pair", f(pm, "%.3f"),
                                                     f(pairs[0] if pairs else None, "%.2f"),
                                                     f(pairs[-1] if pairs else None, "%.2f")))
    la = r.get("lag")
    if la:
        p("")
        p("checkpoint lag (packet at the router -> store event read), %d connections"
          % la.get("connections", 0))
        p("  %-34s %8s %10s %10s %10s" % ("", "n", "p50", "p99", "max"))
        for key, name in (("new", "SYN -> first BASE record"),
                          ("est", "handshake ACK -> L4 ESTABLISHED"),
                          ("end", "last packet -> forget (TIME_WAIT)")):
            x = la.get(key, {})
            p("  %-34s %8s %10s %10s %10s" % (name, x.get("n"), f(x.get("p50_ms"), "%.2f ms"),
                                              f(x.get("p99_ms"), "%.2f ms"),
                                              f(x.get("max_ms"), "%.2f ms")))
    mem_lines = []
    for k in sorted(k for k in r if k.startswith("restore_")):
        m = r[k]["memory"]
        st = m["store"]
        lay = st["layers"]
        per = st["bytes_per_conn"]
        mem_lines.append("  %-34s %6.0f B  (BASE %s + L4 %s; payloads %s)  goal <= 96 B: %s" % (
            "TCP, store accounting (N=%d)" % r[k]["n"], per,
            f(lay["base"]["bytes"] / max(lay["base"]["records"], 1), "%.0f"),
            f(lay["l4"]["bytes"] / max(lay["l4"]["records"], 1), "%.0f"),
            "+".join("%s %d" % (l, v) for l, v in m.get("payload", {}).items()),
            met(per <= 96) + ("" if per <= 96 else ", by %.0f B (%.1fx)" % (per - 96, per / 96))))
        mem_lines.append("  %-34s %6.0f B  (%s)" % (
            "TCP, slab growth at checkpoint", m["slab_bytes_per_conn"],
            ", ".join("%s %.0f" % (c["cache"], c["bytes_per_conn"]) for c in m["slab_caches"])))
        mem_lines.append("  %-34s %6d B" % ("nf_conntrack slab object", m["nf_conntrack_objsize"]))
    mf = r.get("memory_ftp")
    if mf:
        lay = mf["layers"]
        mem_lines.append("  %-34s %6d B  (%s; payloads %s)" % (
            "FTP control conn + ftp helper", mf["bytes"] // max(mf["connections"], 1),
            " + ".join("%s %d" % (l.upper(), v["bytes"]) for l, v in lay.items()),
            "+".join("%s %d" % (l, v) for l, v in mf.get("payload", {}).items())))
    if mem_lines:
        p("")
        p("memory per connection (store: kmalloc'd records, 40 B header + payload each)")
        out.extend(mem_lines)
    for k in sorted((k for k in r if k.startswith("restore_")), key=lambda k: r[k]["n"]):
        x = r[k]
        n = x["n"]
        p("")
        p("restore, N = %d TCP ESTABLISHED entries (after conntrack -F each), median of %d, interleaved a b a b"
          % (n, len(x["a_restore"]["runs"])))
        p("  %-44s %10s %12s %9s" % ("", "seconds", "entries/s", "a faster"))
        a = x["a_restore"]["median_s"]
        res = x["a_restore"]["runs"][0].get("result") or {}
        p("  %-44s %10.2f %12.0f %9s   restored %s failed %s" % (
            "(a) ckptctl restore (in kernel)", a, n / a, "", res.get("restored"), res.get("failed")))
        ov = x["a_restore"].get("median_ckptctl_status_s")
        if ov is not None and a > ov:
            p("  %-44s %10.2f %12.0f %9s   (less ckptctl status: %.2f s)" % (
                "    same, less ckptctl's own start", a - ov, n / (a - ov), "", ov))
        b = x["b_ctnetlink_batch"]["median_s"]
        p("  %-44s %10.2f %12.0f %8.1fx" % ("(b) ctnetlink, batched creates (ctinject)", b, n / b, b / a))
        s = x["b_sync_sample"]
        p("  %-44s %10.2f %12.0f %8.1fx   (%d entries, extrapolated)" % (
            "(b') one acked create per sendmsg", s["extrapolated_s"], n / s["extrapolated_s"],
            s["extrapolated_s"] / a, s["n"]))
        c = x["c_conntrack_I_sample"]
        p("  %-44s %10.1f %12.1f %8.0fx   (%d entries, extrapolated)" % (
            "(c) conntrack -I per entry", c["extrapolated_s"], n / c["extrapolated_s"],
            c["extrapolated_s"] / a, c["n"]))
        p("  goal (a) >= %dx faster than (b): %s (%.1fx)" % (x["goal_vs_b"], met(b / a >= x["goal_vs_b"]), b / a))
        p("  fill (ctinject, first): %.2f s; checkpoint of existing entries (insmod walk): %.2f s, %.0f entries/s"
          % (x["fill"]["seconds"], x["walk_seconds"], n / x["walk_seconds"]))
    st = r.get("stall")
    if st:
        p("")
        p("recovery stall: one TCP transfer, %d KiB at %d KiB/s through the strict router, crash at 20%%"
          % (st["size"] // 1024, st["rate"] // 1024))
        p("  %-34s %10s %10s %10s %10s" % ("", "stall s", "max gap s", "complete", "crash cmd s"))
        for key, name in (("none", "no crash (baseline)"), ("reload", "rmmod + insmod nf_ckpt_ct"),
                          ("flush_restore", "conntrack -F + ckptctl restore")):
            y = st.get(key) or {}
            p("  %-34s %10s %10s %10s %10s" % (name, y.get("stall_s"), f(y.get("max_gap_s")),
                                               y.get("complete"), f(y.get("crash_cmd_s"))))
    print("\n".join(out))


if __name__ == "__main__":
    main()
