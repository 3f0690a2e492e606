"""The nngeometry side of the fim benchmark: the exact Fisher (FIM, variant classif_logits) of
one model in one representation, timed in-process, written to HDF5 for the value comparison.

Usage: nngeometry_side.py NNGEOMETRY_DIR WORK_DIR MODEL INPUTS REPRESENTATION DTYPE REPEATS OUTPUT_H5

Prints the minimum wall time over REPEATS runs in seconds. The nngeometry checkout is only put on
sys.path; nothing of it is copied.
"""
import sys
import time

import h5py
import torch

sys.path.insert(0, sys.argv[1])
from nngeometry.metrics import FIM  # noqa: E402
from nngeometry.object import PMatDense, PMatDiag, PMatKFAC  # noqa: E402

from prepare import build  # noqa: E402

REPRESENTATIONS = {"diag": PMatDiag, "kfac": PMatKFAC, "dense": PMatDense}


def main(work, model_name, inputs_name, representation, dtype_name, repeats, output):
    torch.set_num_threads(1)
    dtype = torch.float64 if dtype_name == "float64" else torch.float32
    model = build(model_name)
    model.load_state_dict(torch.load(f"{work}/{model_name}.state.pt"))
    model = model.to(dtype)
    with h5py.File(f"{work}/inputs.h5", "r") as f:
        x = torch.tensor(f[inputs_name][()], dtype=dtype)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=128)

    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fisher = FIM(model=model, loader=loader, representation=REPRESENTATIONS[representation], variant="classif_logits")
        best = min(best, time.perf_counter() - start)

    with h5py.File(output, "w") as f:
        if representation == "kfac":
            for i, (a, g) in enumerate(fisher.data.values()):
                f[f"kfac/{i}/A"] = a.double().numpy()
                f[f"kfac/{i}/G"] = g.double().numpy()
        else:
            f["matrix" if representation == "dense" else "diagonal"] = fisher.data.double().numpy()
    print(f"{best:.6f}")


if __name__ == "__main__":
    main(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7]), sys.argv[8])
