#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nfckpt benchmarks, inside the VM (scripts/bench boots it; make bench).
# Every comparison is made in this one run, interleaved (A B A B ...), and
# reported as medians over the repeats: under TCG on a shared host only
# ratios measured side by side mean anything.
#
#   fast     client -- router -- server, stateful router (policy drop,
#            established accepted, new TCP only on a SYN from the client,
#            nf_conntrack_tcp_loose=0): iperf3 throughput and new
#            connections per second (connrate, one process), with nfckpt
#            unloaded and loaded, alternately.
#   lag      checkpoint lag (lag.py): packet -> store event, p50/p99.
#   memory   store bytes per connection: an FTP control connection with
#            the ftp helper (BASE, L4, HELPER) here; TCP (BASE + L4) in
#            the restore section, from the store's accounting and slab
#            deltas, next to the nf_conntrack slab object size.
#   stall    the longest gap of a rate-limited transfer (nf_ckpt_xfer.py)
#            with no crash, across rmmod/insmod nf_ckpt_ct and across
#            conntrack -F + ckptctl restore.
#   restore  per N: ctinject fills the table (TCP ESTABLISHED), a reload
#            of nf_ckpt_ct checkpoints the entries (its walk of existing
#            conntracks: ctnetlink-made entries get records only on a
#            packet or that walk), then, each after conntrack -F,
#            alternately (a) ckptctl restore and (b) ctinject again
#            (batched ctnetlink creates); then (b') one acked create per
#            sendmsg (conntrackd's commit) and (c) conntrack -I per entry,
#            on samples, extrapolated.
#
# Environment: BENCH_QUICK=1 (short runs, small N), BENCH_NS="N..." (the
# restore sizes), BENCH_FAST_REPS (off/on pairs), BENCH_SECTIONS="fast lag memory stall restore",
# $VMRUN_OUT (results: results.json, one part per section in parts/).
set -u
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
# $client, $router, $server: set by topo_client_router_server.
# shellcheck disable=SC2154

OUT=${VMRUN_OUT:-/tmp/nfckpt-bench}
PARTS=$OUT/parts
mkdir -p "$PARTS"
rm -f "$PARTS"/*.json "$OUT/results.json"
# Whatever happens, the sections done so far end up in results.json (the
# first hook registered runs last).
merge_parts() {
	[[ -s $OUT/results.json ]] || jq -s 'add' "$PARTS"/*.json >"$OUT/results.json"
}
HERE=$NFCKPT_ROOT/selftests/bench
CTINJECT=$NFCKPT_ROOT/tools/ctinject/ctinject
CONNRATE=$HERE/connrate
UAPI=$NFCKPT_ROOT/kmod/include/uapi/linux/nf_ckpt.h
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
QUICK=${BENCH_QUICK:-0}
SECTIONS=${BENCH_SECTIONS:-fast lag memory stall restore}

if ((QUICK)); then
	FAST_REPS=2 IPERF_SECS=2 CONN_SECS=2 LAG_CONNS=40
	STALL_SIZE=$((2 << 20)) RESTORE_REPS=2 CTI_SAMPLE=30 SYNC_SAMPLE=2000
	RESTORE_NS=${BENCH_NS:-10000}
else
	FAST_REPS=8 IPERF_SECS=4 CONN_SECS=4 LAG_CONNS=200
	STALL_SIZE=$((4 << 20)) RESTORE_REPS=3 CTI_SAMPLE=200 SYNC_SAMPLE=20000
	RESTORE_NS=${BENCH_NS:-100000 1000000}
fi
[[ -n ${BENCH_FAST_REPS:-} ]] && FAST_REPS=$BENCH_FAST_REPS
STALL_RATE=209715	# 200 KiB/s: 20 s for 4 MiB
STORE_MAX_BYTES=$((4 << 30))
CT_HASHSIZE=524288

log() { echo "bench: [${SECONDS}s] $*" >&2; }
secs_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }'; }
# part NAME JSON: one section's results.
part() { printf '%s\n' "$2" >"$PARTS/$1.json"; }

# Median of the numbers on stdin (one per line), "null" if none.
median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (!NR) { print "null"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# A JSON array of the numbers on stdin.
jarr() { jq -s -c '.'; }

nfckpt_off() {
	if mod_loaded nf_ckpt_ct; then rmmod nf_ckpt_ct || log "rmmod nf_ckpt_ct failed"; fi
	if mod_loaded nf_ckpt_store; then rmmod nf_ckpt_store || log "rmmod nf_ckpt_store failed"; fi
}

at_exit merge_parts

nfckpt_on() {
	mod_loaded nf_ckpt_store || insmod "$STORE_KO" max_bytes=$STORE_MAX_BYTES ||
		log "insmod nf_ckpt_store failed"
	mod_loaded nf_ckpt_ct || insmod "$CT_KO" "$@" || log "insmod nf_ckpt_ct failed"
}
at_exit nfckpt_off

# ---------------------------------------------------------------- setup
for m in nf_ckpt_ct nf_ckpt_store; do
	if mod_loaded $m; then rmmod $m || die "$m is loaded and cannot be removed"; fi
done
modprobe nf_conntrack
modprobe nf_conntrack_netlink
modprobe nf_conntrack_ftp 2>/dev/null || log "no nf_conntrack_ftp"
max_n=0
for n in $RESTORE_NS; do ((n > max_n)) && max_n=$n; done
echo "$CT_HASHSIZE" >/sys/module/nf_conntrack/parameters/hashsize
sysctl -qw net.netfilter.nf_conntrack_max=$((max_n + 262144))
tmp=$(mktemp -d)
at_exit "rm -rf $tmp"
_pids=()
at_exit 'for p in "${_pids[@]}"; do kill "$p"; done'

env_json=$(jq -n -c --arg kernel "$(uname -r)" --argjson cpus "$(nproc)" \
	--argjson mem_kb "$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)" \
	--arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
	--argjson quick "$QUICK" --arg sections "$SECTIONS" \
	--argjson ct_hashsize "$(cat /sys/module/nf_conntrack/parameters/hashsize)" \
	--argjson ct_max "$(sysctl -n net.netfilter.nf_conntrack_max)" \
	'{kernel: $kernel, guest_cpus: $cpus, guest_mem_kb: $mem_kb, guest_cpu: $cpu,
	  quick: ($quick == 1), sections: $sections, ct_hashsize: $ct_hashsize,
	  nf_conntrack_max: $ct_max}')
part env "{\"env\": $env_json}"

topo_up() {
	topo_client_router_server
	R sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0
	C sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
	R nft -f - <<'NFT' || die "router ruleset"
table inet filter {
	ct helper ftp-standard {
		type "ftp" protocol tcp
	}
	chain pre {
		type filter hook prerouting priority filter;
		tcp dport 21 ct helper set "ftp-standard"
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "veth0" tcp flags & (fin | syn | rst | ack) == syn ct state new accept
	}
}
NFT
}

listening() { # netns port
	ip netns exec "$1" ss -Hlnt "sport = :$2" | grep -q .
}

# ---------------------------------------------------------------- fast path
bench_fast() {
	local rep mode port=9000 v thr conn
	local -A T C
	T=([off]="" [on]="") C=([off]="" [on]="")
	S iperf3 -s -p 5201 </dev/null >"$tmp/iperf3-s.log" 2>&1 &
	_pids+=($!)
	wait_until 60 listening "$server" 5201 || die "iperf3 -s did not start"
	for rep in $(seq 1 "$FAST_REPS"); do
		for mode in off on; do
			if [[ $mode == on ]]; then nfckpt_on; else nfckpt_off; fi
			R conntrack -F >/dev/null 2>&1
			v=$(C iperf3 -c 10.0.2.2 -p 5201 -t "$IPERF_SECS" -O 1 -J 2>/dev/null |
				jq '.end.sum_received.bits_per_second // empty')
			[[ -n $v ]] && T[$mode]+="$v "
			v=$(C "$CONNRATE" connect 10.0.2.2 "$port" "$CONN_SECS" 2>/dev/null |
				jq '.per_s // empty')
			[[ -n $v ]] && C[$mode]+="$v "
			port=$((port + 1))
			log "fast rep $rep nfckpt $mode: throughput (bit/s) ${T[$mode]}, conn/s ${C[$mode]}"
		done
	done
	nfckpt_on
	thr=$(jq -n -c --argjson off "$(tr ' ' '\n' <<<"${T[off]}" | grep . | jarr)" \
		--argjson on "$(tr ' ' '\n' <<<"${T[on]}" | grep . | jarr)" \
		--argjson moff "$(tr ' ' '\n' <<<"${T[off]}" | grep . | median)" \
		--argjson mon "$(tr ' ' '\n' <<<"${T[on]}" | grep . | median)" \
		'{unit: "bit/s", off: $off, on: $on, median_off: $moff, median_on: $mon,
		  ratio: (if $moff and $mon then $mon / $moff else null end), goal: 0.99}')
	conn=$(jq -n -c --argjson off "$(tr ' ' '\n' <<<"${C[off]}" | grep . | jarr)" \
		--argjson on "$(tr ' ' '\n' <<<"${C[on]}" | grep . | jarr)" \
		--argjson moff "$(tr ' ' '\n' <<<"${C[off]}" | grep . | median)" \
		--argjson mon "$(tr ' ' '\n' <<<"${C[on]}" | grep . | median)" \
		'{unit: "conn/s", off: $off, on: $on, median_off: $moff, median_on: $mon,
		  ratio: (if $moff and $mon then $mon / $moff else null end), goal: 0.97}')
	part fast "{\"fast\": {\"reps\": $FAST_REPS, \"iperf_secs\": $IPERF_SECS,
		\"conn_secs\": $CONN_SECS, \"throughput\": $thr, \"newconn\": $conn}}"
}

# ---------------------------------------------------------------- lag
bench_lag() {
	local out
	nfckpt_on
	R conntrack -F >/dev/null 2>&1
	rm -f "$tmp/lag.ready" "$tmp/lag.stop"
	# "new" is measured from the packet that makes the first write: the
	# handshake ACK, or the SYN when nf_ckpt_ct checkpoints handshakes
	# (checkpoint_handshake=1, or a module from before the parameter).
	local hs=() p=/sys/module/nf_ckpt_ct/parameters/checkpoint_handshake
	[[ ! -e $p || $(cat "$p") == Y ]] && hs=(--handshake)
	R "$PY" "$HERE/lag.py" --uapi "$UAPI" --port 9100 --ready "$tmp/lag.ready" \
		--stop "$tmp/lag.stop" --seconds 900 "${hs[@]}" >"$tmp/lag.json" 2>"$tmp/lag.err" &
	local lpid=$!
	wait_until 120 test -e "$tmp/lag.ready" || log "lag.py: $(cat "$tmp/lag.err")"
	C "$CONNRATE" connect 10.0.2.2 9100 600 20 "$LAG_CONNS" >"$tmp/lag-client.json" 2>&1
	sleep 2
	touch "$tmp/lag.stop"
	wait "$lpid"
	out=$(cat "$tmp/lag.json")
	[[ -n $out ]] || { log "lag.py: $(cat "$tmp/lag.err")"; out=null; }
	part lag "{\"lag\": $out}"
}

# ---------------------------------------------------------------- memory (FTP)
bench_memory_ftp() {
	local id st show out
	nfckpt_on
	mkdir -p "$tmp/ftproot"
	head -c 100000 /dev/urandom >"$tmp/ftproot/file.bin"
	S setsid "$PY" -m pyftpdlib -i 10.0.2.2 -p 21 -d "$tmp/ftproot" \
		</dev/null >"$tmp/ftpd.log" 2>&1 &
	_pids+=($!)
	wait_until 60 listening "$server" 21 || { log "pyftpdlib did not start"; return; }
	R conntrack -F >/dev/null 2>&1
	R "$CKPTCTL" flush >/dev/null
	cat >"$tmp/ftpc.py" <<'EOF'
import ftplib, os, sys, time
f = ftplib.FTP()
f.connect("10.0.2.2", 21, timeout=60)
f.login()
f.voidcmd("TYPE I")
data = []
f.retrbinary("RETR file.bin", data.append)   # passive: helper, expectation
f.voidcmd("NOOP")
open(sys.argv[1], "w").write("%d\n" % f.sock.getsockname()[1])
while not os.path.exists(sys.argv[2]):
    time.sleep(0.1)
f.quit()
EOF
	rm -f "$tmp/ftp.port" "$tmp/ftp.stop"
	C "$PY" "$tmp/ftpc.py" "$tmp/ftp.port" "$tmp/ftp.stop" >"$tmp/ftpc.log" 2>&1 &
	local fpid=$!
	wait_until 60 test -s "$tmp/ftp.port" || log "ftp client: $(cat "$tmp/ftpc.log")"
	# The data connection's records go at its end (TIME_WAIT); then only
	# the control connection is left.
	ftp_alone() {
		R "$CKPTCTL" status --json >"$tmp/ftp.status" 2>/dev/null &&
			jq -e '.connections == 1 and .layers.helper.records == 1' \
				"$tmp/ftp.status" >/dev/null
	}
	wait_until 60 ftp_alone || log "ftp: $(cat "$tmp/ftp.status")"
	id=$(R "$CKPTCTL" list --json | jq '[.[] | select(.dport == 21) | .id][0] // 0')
	show=$(R "$CKPTCTL" show "$id" --json 2>/dev/null || echo null)
	st=$(cat "$tmp/ftp.status")
	touch "$tmp/ftp.stop"
	wait "$fpid"
	out=$(jq -n -c --argjson st "$st" --argjson show "$show" '{
		connections: $st.connections,
		bytes: $st.bytes,
		layers: ($st.layers | with_entries(select(.value.records > 0))),
		payload: (($show.records // {}) | with_entries(.value = .value.bytes))}')
	part memory_ftp "{\"memory_ftp\": $out}"
}

# ---------------------------------------------------------------- stall
XF=("$PY" -I -S -X "pycache_prefix=$tmp/pyc" -c
	"import sys; sys.path.insert(0, sys.argv.pop(1)); import nf_ckpt_xfer; nf_ckpt_xfer.main()"
	"$NFCKPT_ROOT/selftests")

crash_none() { t_resume=$EPOCHREALTIME; }
crash_reload() {
	rmmod nf_ckpt_ct || log "rmmod nf_ckpt_ct failed"
	insmod "$CT_KO" || log "insmod nf_ckpt_ct failed"
	t_resume=$EPOCHREALTIME
}
crash_flush_restore() {
	R conntrack -F >/dev/null 2>&1
	R "$CKPTCTL" restore --json >"$tmp/stall-restore.json" 2>&1 || log "restore failed"
	t_resume=$EPOCHREALTIME
}

# stall_run LABEL CRASH_FN PORT: one TCP flow of $STALL_SIZE at
# $STALL_RATE, crash at 20%.  Prints the facts of nf_ckpt_xfer.py report
# as JSON.
stall_run() {
	local label=$1 crash=$2 port=$3 d=$tmp/stall-$1 n k v t_crash
	local -A REP=()
	mkdir -p "$d"
	S "${XF[@]}" serve --dir "$d" --go "$d/go" \
		"x,tcp,10.0.2.2,$port,$tmp/data.bin,$STALL_SIZE,$STALL_RATE" \
		</dev/null >"$d/serve.out" 2>&1 &
	local spid=$!
	wait_until 60 test -e "$d/serve.ready" || log "$label: serve: $(cat "$d/serve.out")"
	C "${XF[@]}" fetch --dir "$d" --idle 60 --deadline 200 --mark "20,$d/mark" \
		"x,tcp,10.0.2.2,$port,$tmp/data.bin,$STALL_SIZE" \
		</dev/null >"$d/fetch.out" 2>&1 &
	local cpid=$!
	wait_until 60 test -e "$d/fetch.connected" || log "$label: fetch: $(cat "$d/fetch.out")"
	touch "$d/go"
	wait_until 120 test -e "$d/mark" || log "$label: slow to start"
	t_crash=$EPOCHREALTIME
	"$crash"
	local took
	took=$(secs_since "$t_crash")
	wait "$cpid"
	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	"${XF[@]}" report --dir "$d" --crash "$t_crash" --resume "$t_resume" x \
		>"$d/report" 2>&1
	while read -r n k v; do
		REP[$k]=$v
	done <"$d/report"
	log "stall $label: crash took $took s; $(tr '\n' ' ' <"$d/report")"
	jq -n -c --arg stall "${REP[stall]:-}" --arg gap "${REP[max_gap]:-}" \
		--arg ok "${REP[ok]:-0}" --arg reason "${REP[reason]:-}" --arg took "$took" \
		'{stall_s: $stall, max_gap_s: ($gap | tonumber? // null), complete: ($ok == "1"),
		  end: $reason, crash_cmd_s: ($took | tonumber)}'
}

bench_stall() {
	local none reload fr
	nfckpt_on
	head -c "$STALL_SIZE" /dev/urandom >"$tmp/data.bin"
	none=$(stall_run none crash_none 5101)
	reload=$(stall_run reload crash_reload 5102)
	fr=$(stall_run flush_restore crash_flush_restore 5103)
	part stall "{\"stall\": {\"size\": $STALL_SIZE, \"rate\": $STALL_RATE,
		\"none\": $none, \"reload\": $reload, \"flush_restore\": $fr,
		\"restore\": $(cat "$tmp/stall-restore.json" 2>/dev/null || echo null)}}"
}

# ---------------------------------------------------------------- restore
slab_total_kb() { awk '/^Slab:/ { print $2 }' /proc/meminfo; }
# name active_objs objsize of every cache, sorted by name.
slab_snap() { awk 'NR > 2 { print $1, $2, $4 }' /proc/slabinfo | sort; }

ct_count() { ip netns exec "$rs" conntrack -C 2>/dev/null || echo -1; }
ct_empty() { [[ $(ct_count) == 0 ]]; }

flush_table() {
	ip netns exec "$rs" conntrack -F >/dev/null 2>&1
	wait_until 600 ct_empty || log "conntrack -F left $(ct_count) entries"
}

# bench_restore_n N: sets part restore_N.
bench_restore_n() {
	local n=$1 rep t0 a b ov out v slab0 slab1 st show walk fill reps=$RESTORE_REPS
	local aj=() bj=()
	netns_new rs
	nfckpt_on
	log "restore N=$n: fill"
	fill=$(ip netns exec "$rs" "$CTINJECT" -n "$n")
	log "fill: $fill; table $(ct_count)"
	# Checkpoint what is there: nf_ckpt_ct's walk of existing conntracks
	# when it loads (ctnetlink-made entries get records only on a packet).
	rmmod nf_ckpt_ct
	sync
	echo 2 >/proc/sys/vm/drop_caches
	slab_snap >"$tmp/slab0"
	slab0=$(slab_total_kb)
	t0=$EPOCHREALTIME
	insmod "$CT_KO"
	log "insmod returned after $(secs_since "$t0") s"
	# The walk runs as a work item after insmod: wait for its records.
	walked() {
		local c
		c=$(ip netns exec "$rs" "$CKPTCTL" status --json 2>/dev/null | jq '.connections')
		((${c:-0} >= n))
	}
	WAIT_POLL=0.5 wait_until 3600 walked || log "the walk did not record $n"
	walk=$(secs_since "$t0")
	slab1=$(slab_total_kb)
	slab_snap >"$tmp/slab1"
	st=$(ip netns exec "$rs" "$CKPTCTL" status --json)
	log "walk (insmod) $walk s; store $(jq -c '{connections, records, bytes}' <<<"$st")"
	# The walk gave the last ID to an entry of $rs (nothing else is there).
	show=$(ip netns exec "$rs" "$CKPTCTL" show "$(jq '.highest_id' <<<"$st")" --json \
		2>/dev/null || echo null)
	# Per-cache object deltas (caches that grew by >= N/2 objects).
	local caches
	caches=$(join "$tmp/slab0" "$tmp/slab1" | awk -v n="$n" '
		$4 - $2 >= n / 2 { printf "{\"cache\": \"%s\", \"objs\": %d, \"objsize\": %d, \"bytes_per_conn\": %.1f}\n",
			$1, $4 - $2, $5, ($4 - $2) * $5 / n }' | jq -s -c '.')
	local ctobj
	ctobj=$(awk '$1 == "nf_conntrack" { print $4 }' /proc/slabinfo)

	((n >= 500000 && reps > 2)) && reps=2
	for rep in $(seq 1 "$reps"); do
		flush_table
		# What ckptctl costs by itself (process start, family lookup).
		t0=$EPOCHREALTIME
		ip netns exec "$rs" "$CKPTCTL" status >/dev/null 2>&1
		ov=$(secs_since "$t0")
		t0=$EPOCHREALTIME
		out=$(ip netns exec "$rs" "$CKPTCTL" restore --json 2>&1)
		a=$(secs_since "$t0")
		log "rep $rep (a) ckptctl restore: $a s (ckptctl status: $ov s), $out, table $(ct_count)"
		aj+=("$(jq -n -c --argjson s "$a" --argjson ov "$ov" \
			--argjson r "$(jq -c . <<<"$out" 2>/dev/null || echo null)" \
			'{seconds: $s, ckptctl_status_s: $ov, result: $r}')")
		flush_table
		t0=$EPOCHREALTIME
		out=$(ip netns exec "$rs" "$CTINJECT" -n "$n")
		b=$(secs_since "$t0")
		log "rep $rep (b) ctinject: wall $b s, $out, table $(ct_count)"
		bj+=("$(jq -n -c --argjson w "$b" --argjson r "$(jq -c . <<<"$out" 2>/dev/null || echo null)" \
			'{wall_seconds: $w, result: $r}')")
	done
	# (b') conntrackd's commit path: one acked create per sendmsg, a sample.
	flush_table
	local sn=$((SYNC_SAMPLE < n ? SYNC_SAMPLE : n)) sync_out
	sync_out=$(ip netns exec "$rs" "$CTINJECT" --sync -n "$sn")
	log "(b') ctinject --sync -n $sn: $sync_out"
	# (c) conntrack -I, one process per entry, a sample.
	flush_table
	local cn=$((CTI_SAMPLE < n ? CTI_SAMPLE : n)) cfail=0 src dst sp dp
	"$CTINJECT" --list -n "$cn" >"$tmp/sample"
	t0=$EPOCHREALTIME
	while read -r src dst sp dp; do
		ip netns exec "$rs" conntrack -I -p tcp -s "$src" -d "$dst" --sport "$sp" \
			--dport "$dp" --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 432000 \
			>/dev/null 2>&1 || cfail=$((cfail + 1))
	done <"$tmp/sample"
	local c
	c=$(secs_since "$t0")
	log "(c) conntrack -I x $cn: $c s, $cfail failed, table $(ct_count)"
	flush_table
	ip netns exec "$rs" "$CKPTCTL" flush >/dev/null
	ip netns del "$rs"

	v=$(jq -n -c --argjson n "$n" --argjson fill "$fill" --argjson walk "$walk" \
		--argjson st "$st" --argjson show "$show" --argjson caches "$caches" \
		--argjson slab0 "$slab0" --argjson slab1 "$slab1" --argjson ctobj "${ctobj:-0}" \
		--argjson a "$(printf '%s\n' "${aj[@]}" | jq -s -c .)" \
		--argjson b "$(printf '%s\n' "${bj[@]}" | jq -s -c .)" \
		--argjson sync "$sync_out" --argjson cn "$cn" --argjson c "$c" --argjson cfail "$cfail" '
		def med: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
			else (.[length / 2 - 1] + .[length / 2]) / 2 end;
		def div($x; $y): if $x == null or $y == null or $y == 0 then null else $x / $y end;
		($a | map(.seconds) | med) as $am |
		($b | map(.result.seconds) | med) as $bm |
		{n: $n, fill: $fill, walk_seconds: $walk,
		 a_restore: {runs: $a, median_s: $am, per_s: div($n; $am),
			median_ckptctl_status_s: ($a | map(.ckptctl_status_s) | med)},
		 b_ctnetlink_batch: {runs: $b, median_s: $bm, per_s: div($n; $bm)},
		 b_sync_sample: ($sync + {extrapolated_s: div($sync.seconds * $n; $sync.n)}),
		 c_conntrack_I_sample: {n: $cn, seconds: $c, failed: $cfail,
			extrapolated_s: div($c * $n; $cn)},
		 speedup_vs_b: div($bm; $am), speedup_vs_sync: div(div($sync.seconds * $n; $sync.n); $am),
		 speedup_vs_c: div(div($c * $n; $cn); $am), goal_vs_b: 20,
		 memory: {store: {connections: $st.connections, records: $st.records, bytes: $st.bytes,
			bytes_per_conn: div($st.bytes; $st.connections), layers: $st.layers},
			payload: (($show.records // {}) | with_entries(.value = .value.bytes)),
			slab_kb_delta: ($slab1 - $slab0),
			slab_bytes_per_conn: (($slab1 - $slab0) * 1024 / $n),
			slab_caches: $caches, nf_conntrack_objsize: $ctobj, goal_bytes_per_conn: 96}}')
	part "restore_$n" "{\"restore_$n\": $v}"
}

bench_restore() {
	local n
	for n in $RESTORE_NS; do
		bench_restore_n "$n"
	done
}

# ---------------------------------------------------------------- run
log "sections: $SECTIONS (quick=$QUICK)"
if [[ " $SECTIONS " == *" fast "* || " $SECTIONS " == *" lag "* ||
	" $SECTIONS " == *" memory "* || " $SECTIONS " == *" stall "* ]]; then
	topo_up
	S "$CONNRATE" serve 10.0.2.2 $(seq 9000 $((9000 + 2 * FAST_REPS))) 9100 \
		</dev/null >"$tmp/connrate-s.log" 2>&1 &
	_pids+=($!)
	wait_until 60 listening "$server" 9100 || die "connrate serve did not start"
fi
for s in $SECTIONS; do
	log "== $s"
	case $s in
	fast) bench_fast ;;
	lag) bench_lag ;;
	memory) bench_memory_ftp ;;
	stall) bench_stall ;;
	restore)
		# Only the restore netns: walks and restores see nothing else.
		for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done
		for ns in "${_netns_list[@]}"; do ip netns del "$ns" 2>/dev/null; done
		_netns_list=()
		bench_restore
		;;
	esac
done
merge_parts
log "results: $OUT/results.json"
