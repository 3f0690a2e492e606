# Draws geodesics of the stein metric between the Old Faithful clusters over the data density.
# Variables set by faithful-geodesics.sh: density (x, y, p), datafile, geodesics and straight
# (rows pair, t, x, y), output.
set terminal pngcairo size 900,700 font "sans,11"
set output output
set title "stein-metric geodesics (solid) and straight segments (dashed) between the clusters"
set xlabel "eruption duration (min)"
set ylabel "waiting time to next eruption (min)"
set xrange [1.3:5.2]
set yrange [40:97]
set key top left opaque box
set palette defined (0 "white", 1 "#bbccee", 2 "#4477aa", 3 "#222255")
set cblabel "kernel density estimate of the data"
plot density using 1:2:3 with image notitle, \
     datafile using 1:2 with points pt 7 ps 0.4 lc rgb "black" title "data", \
     straight using 3:4 with lines dt 2 lw 1.5 lc rgb "#777777" title "straight segment", \
     geodesics using 3:4 with lines lw 2.5 lc rgb "#ee6677" title "geodesic"
