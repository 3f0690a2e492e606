# Draws the Old Faithful demo: data, Langevin samples and the learned score field.
# Variables set by faithful.sh: datafile, samples, field (x, y, s_x, s_y), output.
set terminal pngcairo size 1400,620 font "sans,11"
set output output
set multiplot layout 1,2 title "scorekit on Old Faithful (272 eruptions)"
set xlabel "eruption duration (min)"
set ylabel "waiting time to next eruption (min)"
set xrange [1.3:5.2]
set yrange [40:97]
set key top left opaque box

# The grid spacing (dx, dy) is about the same on screen in both directions, so scaling each score
# component by it shows the direction on screen; arrows grow with |s| up to one grid cell.
dx = 0.16
dy = 2.3
n(u, v) = sqrt((u * dx) ** 2 + (v * dy) ** 2)
len(u, v) = 0.9 * (n(u, v) > 1 ? 1 : 0.25 + 0.75 * n(u, v))

set title "learned score s(x) = grad log p(x), with the data"
plot field using 1:2:($3 * dx * dx / n($3, $4) * len($3, $4)):($4 * dy * dy / n($3, $4) * len($3, $4)) \
        with vectors head size 0.05,20 filled lc rgb "#4477aa" title "score direction", \
     datafile using 1:2 with points pt 7 ps 0.6 lc rgb "black" title "data"

set title "2,000 annealed Langevin samples from the model"
plot samples using 1:2 with points pt 7 ps 0.35 lc rgb "#ee6677" title "samples", \
     datafile using 1:2 with points pt 7 ps 0.6 lc rgb "black" title "data"
unset multiplot
