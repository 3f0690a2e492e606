"""The nngeometry side of the fim benchmark, as one whole process: imports torch and nngeometry,
loads the model and the inputs, computes the exact Fisher (FIM, variant classif_logits) of one
model in one representation once, and writes it to HDF5 for the value comparison. This is what
fim's process does, so timing the whole process compares like with like.

Usage: nngeometry_side.py NNGEOMETRY_DIR WORK_DIR MODEL INPUTS REPRESENTATION DTYPE OUTPUT_H5

Prints the FIM call's wall time and CPU time (user + system of this process) in seconds. The
nngeometry checkout is only put on sys.path; nothing of it is copied.
"""
import os
import sys
import time

sys.path.insert(0, sys.argv[1])
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import h5py  # noqa: E402
import torch  # noqa: E402
from nngeometry.metrics import FIM  # noqa: E402
from nngeometry.object import PMatDense, PMatDiag, PMatKFAC  # noqa: E402

from prepare import build  # noqa: E402

REPRESENTATIONS = {"diag": PMatDiag, "kfac": PMatKFAC, "dense": PMatDense}


def main(work, model_name, inputs_name, representation, dtype_name, output):
    torch.set_num_threads(1)
    dtype = torch.float64 if dtype_name == "float64" else torch.float32
    model = build(model_name)
    model.load_state_dict(torch.load(f"{work}/{model_name}.state.pt"))
    model = model.to(dtype)
    with h5py.File(f"{work}/inputs.h5", "r") as f:
        x = torch.tensor(f[inputs_name][()], dtype=dtype)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=128)

    wall, cpu = time.perf_counter(), time.process_time()
    fisher = FIM(model=model, loader=loader, representation=REPRESENTATIONS[representation], variant="classif_logits")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

    with h5py.File(output, "w") as f:
        if representation == "kfac":
            for i, (a, g) in enumerate(fisher.data.values()):
                f[f"kfac/{i}/A"] = a.double().numpy()
                f[f"kfac/{i}/G"] = g.double().numpy()
        else:
            f["matrix" if representation == "dense" else "diagonal"] = fisher.data.double().numpy()
    print(f"{wall:.6f} {cpu:.6f}")


if __name__ == "__main__":
    main(*sys.argv[2:8])
