# SPDX-License-Identifier: GPL-2.0
#
# The plot of `make demo` (scripts/demo): throughput over time of the two
# runs of selftests/nf_ckpt_demo.sh, one panel each, the crash marked.
# Variables (gnuplot -e): dir (the test's NFCKPT_DEMO_OUT), out (the PNG),
# kernel, what (the transfer, for the title), mib (its size), c_crash,
# c_flush, c_back, c_end, n_crash, n_flush, n_back, n_end (times.txt:
# start of the crash, conntrack table flushed, firewall back, end of the
# transfer, in seconds since the server started sending),
# c_title, n_title (the panel titles: short verdicts).
#
# Each throughput value is the average since the previous sample, drawn
# over that interval (fsteps).

set terminal pngcairo size 1000,680 font "DejaVu Sans,10" noenhanced
set output out

# The same scales in both panels.
stats dir."/control.dat" using 3 name "C" nooutput
stats dir."/nfckpt.dat" using 3 name "N" nooutput
ymax = (C_max > N_max ? C_max : N_max) * 1.15
xmax = (c_end > n_end ? c_end : n_end) + 1
set xrange [0:xmax]
set yrange [0:ymax]
set y2range [0:mib * 1.15]
set ytics nomirror
set y2tics
set ylabel "KiB/s"
set y2label "MiB received"
set grid xtics ytics lc rgb "#dddddd"
set key top right opaque box lc rgb "#bbbbbb"

set multiplot layout 2,1 title sprintf("nfckpt demo: %s through a strict stateful router, the firewall crashes mid-transfer (kernel %s, qemu/TCG)\nred band: the crash, rmmod nf_ckpt_ct + conntrack -F + insmod nf_ckpt_ct (the control has no nfckpt module: conntrack -F); red line: table flushed", what, kernel)

# The crash: from its start until the firewall is back (band), the
# conntrack table flushed (line).
set title c_title
set object 1 rect from c_crash, graph 0 to c_back, graph 1 behind \
	fc rgb "#d62728" fs transparent solid 0.15 noborder
set arrow 1 from c_flush, graph 0 to c_flush, graph 1 nohead lc rgb "#d62728" lw 2
set label 1 "conntrack -F" at c_flush, graph 0.93 offset 0.6,0 tc rgb "#d62728"
plot dir."/control.dat" using 1:3 axes x1y1 with fsteps lw 2 lc rgb "#1f77b4" title "throughput", \
     "" using 1:2 axes x1y2 with lines lw 1.5 dt 2 lc rgb "#555555" title "received"

set xlabel "seconds since the server started sending"
set title n_title
set object 1 rect from n_crash, graph 0 to n_back, graph 1 behind \
	fc rgb "#d62728" fs transparent solid 0.15 noborder
set arrow 1 from n_flush, graph 0 to n_flush, graph 1 nohead lc rgb "#d62728" lw 2
set label 1 "conntrack -F" at n_flush, graph 0.93 offset 0.6,0 tc rgb "#d62728"
plot dir."/nfckpt.dat" using 1:3 axes x1y1 with fsteps lw 2 lc rgb "#2ca02c" title "throughput", \
     "" using 1:2 axes x1y2 with lines lw 1.5 dt 2 lc rgb "#555555" title "received"

unset multiplot
