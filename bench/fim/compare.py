"""Compare fim's HDF5 output with nngeometry's for one representation.

Usage: compare.py FIM_H5 NNGEOMETRY_H5 REPRESENTATION

Prints the largest entry-wise difference relative to the largest entry of the nngeometry result.
KFAC factors are compared as the products they define: A / |A| and G |A| (each side may split a
constant factor between A and G differently).
"""
import sys

import h5py
import numpy as np


def relative(got, expected):
    return np.abs(got - expected).max() / np.abs(expected).max()


def main(ours_path, theirs_path, representation):
    ours, theirs = h5py.File(ours_path, "r"), h5py.File(theirs_path, "r")
    if representation == "diag":
        error = relative(ours["fisher/diagonal"][()], theirs["diagonal"][()])
    elif representation == "dense":
        error = relative(ours["fisher/matrix"][()], theirs["matrix"][()])
    else:
        layers = sorted(ours["fisher/kfac"].keys())
        error = 0.0
        for i, layer in enumerate(layers):
            a, g = ours[f"fisher/kfac/{layer}/A"][()], ours[f"fisher/kfac/{layer}/G"][()]
            ta, tg = theirs[f"kfac/{i}/A"][()], theirs[f"kfac/{i}/G"][()]
            na, nta = np.linalg.norm(a), np.linalg.norm(ta)
            error = max(error, relative(a / na, ta / nta), relative(g * na, tg * nta))
    print(f"{error:.3g}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
