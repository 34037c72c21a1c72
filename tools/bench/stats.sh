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
paired() { ratios "$1" "$2" | median; }

# ratios "a1 a2 .." "b1 b2 ..": the a_i / b_i, one per line.
ratios() {
  paste <(tr ' ' '\n' <<<"$1" | grep .) <(tr ' ' '\n' <<<"$2" | grep .) | awk '{print $1 / $2}'
}

# ci95: a distribution-free 95 % confidence interval of the median of the
# numbers on stdin ("lo hi"): the order statistics k and n + 1 - k, with k
# the largest for which P(Binomial(n, 1/2) < k) <= 0.025. Fewer than 6
# numbers give no interval ("- -").
ci95() {
  sort -g | awk '{a[NR] = $1}
    END {
      n = NR; if (n < 6) { print "- -"; exit }
      p = 0.5 ^ n; cum = 0; k = 0
      for (i = 0; i <= n; i++) { if (cum + p > 0.025) break; cum += p; k = i + 1; p = p * (n - i) / (i + 1) }
      if (k < 1) { print "- -"; exit }
      print a[k], a[n + 1 - k] }'
}

# paired_ci "a1 a2 .." "b1 b2 ..": ci95 of the a_i / b_i.
paired_ci() { ratios "$1" "$2" | ci95; }

# ci_text LO HI: "[lo, hi]" with three decimals, or "-" without an interval.
ci_text() {
  if [ "$1" = - ]; then echo -; else awk -v a="$1" -v b="$2" 'BEGIN{printf "[%.3f, %.3f]", a, b}'; fi
}
