#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kselftest-style runner, run as root inside the test VM:
#   run.sh [TEST...]        default: TEST_PROGS of the Makefile
#   NFCKPT_STRESS=1 run.sh  also the long TEST_PROGS_EXTENDED
# Prints KTAP; each test's own output is indented with "# ".
set -u
cd "$(dirname "$(readlink -f "$0")")"

timeout=$(sed -n 's/^timeout=//p' settings)
if (($# == 0)); then
	target=list
	[[ ${NFCKPT_STRESS:-0} == 1 ]] && target=list-stress
	read -r -a tests <<<"$(make -s --no-print-directory "$target")"
else
	tests=("$@")
fi

echo "TAP version 13"
echo "1..${#tests[@]}"
n=0
rc_all=0
for t in "${tests[@]}"; do
	n=$((n + 1))
	echo "# selftests: nfckpt: $t"
	start=$SECONDS
	# settings may give a test a longer limit under NFCKPT_STRESS=1:
	# stress_timeout.TEST=SECS.
	t_timeout=$timeout
	if [[ ${NFCKPT_STRESS:-0} == 1 ]]; then
		t_timeout=$(sed -n "s/^stress_timeout\.$t=//p" settings)
		t_timeout=${t_timeout:-$timeout}
	fi
	timeout --foreground -k 10 "$t_timeout" ./"$t" 2>&1 | sed -u 's/^/# /'
	rc=${PIPESTATUS[0]}
	took=$((SECONDS - start))
	case $rc in
	0) echo "ok $n selftests: nfckpt: $t # ${took}s" ;;
	4) echo "ok $n selftests: nfckpt: $t # SKIP" ;;
	124) echo "not ok $n selftests: nfckpt: $t # TIMEOUT ${t_timeout}s"; rc_all=1 ;;
	*) echo "not ok $n selftests: nfckpt: $t # exit=$rc"; rc_all=1 ;;
	esac
done
exit $rc_all
