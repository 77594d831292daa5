set datafile separator ","
set terminal pngcairo size 900,560 noenhanced
set key left top
set grid
set output "bench/results/scale-detection-i0.2.png"
set title "Detection time per surviving observer, interval 0.2 s, 1% loss"
set xlabel "seconds from the failure to the observer's peer_down"
set ylabel "fraction"
set logscale x
plot '< grep ^kill, bench/results/scale-cdf-n5-i0.2.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 1 title "N=5 kill", \
  '< grep ^silent, bench/results/scale-cdf-n5-i0.2.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 2 title "N=5 silent", \
  '< grep ^kill, bench/results/scale-cdf-n50-i0.2.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 1 title "N=50 kill", \
  '< grep ^silent, bench/results/scale-cdf-n50-i0.2.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 2 title "N=50 silent", \
  '< grep ^kill, bench/results/scale-cdf-n100-i0.2.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 1 title "N=100 kill", \
  '< grep ^silent, bench/results/scale-cdf-n100-i0.2.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 2 title "N=100 silent", \
  '< grep ^kill, bench/results/scale-cdf-n200-i0.2.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 1 title "N=200 kill", \
  '< grep ^silent, bench/results/scale-cdf-n200-i0.2.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 2 title "N=200 silent", \
  '< grep ^kill, bench/results/scale-cdf-n1000-i0.2.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 1 title "N=1000 kill", \
  '< grep ^silent, bench/results/scale-cdf-n1000-i0.2.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 2 title "N=1000 silent", \
  '< grep ^kill, bench/results/scale-cdf-n5000-i0.2.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 1 title "N=5000 kill", \
  '< grep ^silent, bench/results/scale-cdf-n5000-i0.2.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 2 title "N=5000 silent"
unset logscale x
set output "bench/results/scale-detection-i1.png"
set title "Detection time per surviving observer, interval 1 s, 1% loss"
set xlabel "seconds from the failure to the observer's peer_down"
set ylabel "fraction"
set logscale x
plot '< grep ^kill, bench/results/scale-cdf-n5-i1.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 1 title "N=5 kill", \
  '< grep ^silent, bench/results/scale-cdf-n5-i1.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 2 title "N=5 silent", \
  '< grep ^kill, bench/results/scale-cdf-n50-i1.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 1 title "N=50 kill", \
  '< grep ^silent, bench/results/scale-cdf-n50-i1.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 2 title "N=50 silent", \
  '< grep ^kill, bench/results/scale-cdf-n100-i1.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 1 title "N=100 kill", \
  '< grep ^silent, bench/results/scale-cdf-n100-i1.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 2 title "N=100 silent", \
  '< grep ^kill, bench/results/scale-cdf-n200-i1.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 1 title "N=200 kill", \
  '< grep ^silent, bench/results/scale-cdf-n200-i1.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 2 title "N=200 silent", \
  '< grep ^kill, bench/results/scale-cdf-n1000-i1.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 1 title "N=1000 kill", \
  '< grep ^silent, bench/results/scale-cdf-n1000-i1.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 2 title "N=1000 silent", \
  '< grep ^kill, bench/results/scale-cdf-n5000-i1.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 1 title "N=5000 kill", \
  '< grep ^silent, bench/results/scale-cdf-n5000-i1.csv | sort -t, -k2 -g' using 2:($0+1) smooth cnormal with lines lw 2 dt 2 title "N=5000 silent"
unset logscale x
set output "bench/results/scale-false-alarms.png"
set title "False alarms (peer_down about a live agent, per observer) against cluster size"
set xlabel "agents"
set ylabel "false alarms in the run (+1)"
set logscale xy
plot 'bench/results/scale.csv' using ($2==0.2 ? $1 : 1/0):($6+1) with linespoints lw 2 title "interval 0.2 s, observers (protocol 2)", \
  'bench/results/scale-protocol1.csv' using ($2==0.2 && $3==0 ? $1 : 1/0):($6+1) with linespoints lw 1 dt 3 title "interval 0.2 s, protocol 1, fanout all", \
  'bench/results/scale-protocol1.csv' using ($2==0.2 && $3==8 ? $1 : 1/0):($6+1) with linespoints lw 1 dt 3 title "interval 0.2 s, protocol 1, fanout 8", \
  'bench/results/scale.csv' using ($2==1 ? $1 : 1/0):($6+1) with linespoints lw 2 title "interval 1 s, observers (protocol 2)", \
  'bench/results/scale-protocol1.csv' using ($2==1 && $3==0 ? $1 : 1/0):($6+1) with linespoints lw 1 dt 3 title "interval 1 s, protocol 1, fanout all", \
  'bench/results/scale-protocol1.csv' using ($2==1 && $3==8 ? $1 : 1/0):($6+1) with linespoints lw 1 dt 3 title "interval 1 s, protocol 1, fanout 8"
set output "bench/results/scale-bytes.png"
set title "Bytes sent per agent per second against cluster size"
set ylabel "bytes / s / agent (protocol 2: after the warm-up)"
plot 'bench/results/scale.csv' using ($2==0.2 ? $1 : 1/0):21 with linespoints lw 2 title "interval 0.2 s, observers (protocol 2)", \
  'bench/results/scale-protocol1.csv' using ($2==0.2 && $3==0 ? $1 : 1/0):18 with linespoints lw 1 dt 3 title "interval 0.2 s, protocol 1, fanout all", \
  'bench/results/scale-protocol1.csv' using ($2==0.2 && $3==8 ? $1 : 1/0):18 with linespoints lw 1 dt 3 title "interval 0.2 s, protocol 1, fanout 8", \
  'bench/results/scale.csv' using ($2==1 ? $1 : 1/0):21 with linespoints lw 2 title "interval 1 s, observers (protocol 2)", \
  'bench/results/scale-protocol1.csv' using ($2==1 && $3==0 ? $1 : 1/0):18 with linespoints lw 1 dt 3 title "interval 1 s, protocol 1, fanout all", \
  'bench/results/scale-protocol1.csv' using ($2==1 && $3==8 ? $1 : 1/0):18 with linespoints lw 1 dt 3 title "interval 1 s, protocol 1, fanout 8"
