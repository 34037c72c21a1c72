# stats.sh - what the benchmark scripts share (sourced, not run): medians of
# the space-separated samples they collect and ratios between them.

# median: the median of the numbers on stdin, one per line.
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# med "x y z": the median of a space-separated list.
med() { tr ' ' '\n' <<<"$1" | grep . | median; }

# ratio A B: A / B.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{print a/b}'; }

# paired "a1 a2 .." "b1 b2 ..": the median of a_i / b_i (runs of one round,
# seconds apart, so a drift of the machine cancels out).
paired() {
  paste <(tr ' ' '\n' <<<"$1" | grep .) <(tr ' ' '\n' <<<"$2" | grep .) | awk '{print $1 / $2}' | median
}
