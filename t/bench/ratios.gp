# Bar chart of t/bench/out/chart.dat (key TAB times-better), one bar a
# row; called by t/bench/report with datafile and outfile set.
set terminal svg size 1000,560 dynamic font "sans,11"
set output outfile
set datafile separator "\t"
set title "Skytools in C against the reference systems (times better; 1 = equal)"
set style fill solid 0.8 border -1
set boxwidth 0.7
set logscale y 2
set yrange [0.03125:64]
set ytics ("1/32" 0.03125, "1/16" 0.0625, "1/8" 0.125, "1/4" 0.25, "1/2" 0.5, "1" 1, "2" 2, "4" 4, "8" 8, "16" 16, "32" 32, "64" 64)
set grid ytics
set xtics rotate by -40 left noenhanced
set bmargin 9
set key off
plot datafile using 0:2:xtic(1) with boxes lc rgb "#3070b0", \
     datafile using 0:2:(sprintf("%.2f", $2)) with labels offset 0,0.7 font "sans,9", \
     1 with lines lc rgb "#c03030" lw 2
