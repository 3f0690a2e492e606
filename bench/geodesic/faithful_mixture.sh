# Shared by the geodesic benchmarks (sourced). faithful_mixture DATA prints the scorekit spec of
# a two-component Gaussian mixture fitted to the two eruption clusters of faithful.csv (weight,
# mean and full covariance of each). faithful_pairs DATA COUNT prints COUNT random pairs of its
# points (awk srand(1)), one pair per line as "x1 y1 x2 y2".
faithful_mixture() {
    awk -F, 'NR > 1 { c = ($1 < 3) ? 1 : 2; n[c]++; x[c] += $1; y[c] += $2; xx[c] += $1 * $1; yy[c] += $2 * $2; xy[c] += $1 * $2 }
        END { for (c = 1; c <= 2; c++) { mx = x[c] / n[c]; my = y[c] / n[c]
                  w[c] = n[c]; m[c] = sprintf("%.6f,%.6f", mx, my)
                  v[c] = sprintf("%.6f,%.6f,%.6f,%.6f", xx[c] / n[c] - mx * mx, xy[c] / n[c] - mx * my,
                                 xy[c] / n[c] - mx * my, yy[c] / n[c] - my * my) }
              printf "gmm:weights=%d,%d;means=%s/%s;covs=%s/%s", w[1], w[2], m[1], m[2], v[1], v[2] }' "$1"
}

faithful_pairs() {
    awk -F, -v count="$2" 'BEGIN { srand(1) } NR > 1 { p[NR - 1] = $1 " " $2 } END {
            for (k = 0; k < count; k++) { i = 1 + int(rand() * (NR - 1)); do j = 1 + int(rand() * (NR - 1)); while (j == i)
                print p[i], p[j] } }' "$1"
}
