# Draws a digits geodesic and the straight interpolation as two rows of nine 8x8 images.
# Variables set by digits-geodesic.sh: geodesic and straight (blank-line separated 8x8
# matrices, one per frame), output.
set terminal pngcairo size 1080,330 font "sans,10"
set output output
set palette gray negative
set cbrange [0:17]
unset colorbox
unset key
unset tics
unset border
set size ratio -1
set yrange [7.5:-0.5]
set xrange [-0.5:7.5]
set multiplot layout 2,9 title "geodesic under the stein metric (top) and pixel-wise straight interpolation (bottom)"
do for [f = 0:8] {
    set title sprintf("t = %d/8", f)
    plot geodesic index f matrix with image
}
do for [f = 0:8] {
    set title ""
    plot straight index f matrix with image
}
unset multiplot
