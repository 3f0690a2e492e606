"""Reference for `metric-eval`: the same metric quantities of a score-train model in PyTorch.

The score network runs in float32, as in metric-eval, on standardised coordinates
z = (x - mean) / std at the model's smallest noise level, and its output is mapped back to data
coordinates: s(x) = f([z, log sigma]) / (sigma * std). The metric algebra then runs in float64.

Workloads (--workload):
  stein     log det g and |v|_g for g = I + lambda s s^T: log(1 + lambda |s|^2) and
            sqrt(|v|^2 + lambda (s . v)^2), one tangent vector per point.
  pullback  log det g for g = lambda I + J^T J, J = ds/dx from torch.func (jacfwd under vmap).
  curves    length and energy of polylines [C, T, D], t uniform on [0, 1], with g = stein at the
            segment midpoints, as metric-eval's midpoint rule.

Points, vectors and curves are read from HDF5 (/points, /vectors, /curves). Results are written
to HDF5 under metric-eval's dataset names (logdet, norm, curve_length, curve_energy).
"""
import argparse
import math
import sys
import time

import h5py
import torch
from torch import nn

try:
    from torch.func import jacfwd, vmap
except ImportError:  # PyTorch 1.13 (Debian 12) has them in functorch
    from functorch import jacfwd, vmap


class MlpScore:
    """A score-train model evaluated in data coordinates."""

    def __init__(self, path):
        with h5py.File(path, "r") as file:
            group = file["model"]
            depth = int(group.attrs["depth"])
            self.sigma = float(group["sigmas"][:][-1])
            self.mean = torch.from_numpy(group["data_mean"][:]).float()
            self.std = torch.from_numpy(group["data_std"][:]).float()
            self.layers = [(torch.from_numpy(group[f"layers.{l}.weight"][:]).float(),
                            torch.from_numpy(group[f"layers.{l}.bias"][:]).float()) for l in range(depth + 1)]

    def __call__(self, x):
        """Score of float32 points x [N, D] in data coordinates."""
        z = (x - self.mean) / self.std
        h = torch.cat([z, torch.full((z.shape[0], 1), math.log(self.sigma))], dim=1)
        for weight, bias in self.layers[:-1]:
            h = nn.functional.softplus(torch.addmm(bias, h, weight.t()))
        weight, bias = self.layers[-1]
        return (torch.addmm(bias, h, weight.t()) / self.sigma) / self.std


def stein_squared_norm(s, v, lam):
    return (v * v).sum(dim=-1) + lam * (s * v).sum(dim=-1) ** 2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", required=True, help="score-train model file")
    parser.add_argument("--workload", required=True, choices=["stein", "pullback", "curves"])
    parser.add_argument("--input", required=True, help="HDF5 file with /points and /vectors, or /curves")
    parser.add_argument("-o", "--output", required=True, help="results (HDF5)")
    parser.add_argument("--lambda", dest="lam", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=4096, help="points per batch")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    score = MlpScore(args.model)

    started = time.perf_counter()
    results = {}
    with torch.no_grad(), h5py.File(args.input, "r") as data:
        if args.workload == "curves":
            curves = torch.from_numpy(data["curves"][:])
            count, knots, dim = curves.shape
            midpoints = 0.5 * (curves[:, 1:] + curves[:, :-1])
            steps = curves[:, 1:] - curves[:, :-1]
            flat = midpoints.reshape(-1, dim)
            s = torch.cat([score(flat[i:i + args.batch].float()) for i in range(0, len(flat), args.batch)]).double()
            squared = stein_squared_norm(s.reshape(count, knots - 1, dim), steps, args.lam)
            dt = 1.0 / (knots - 1)
            results["curve_length"] = squared.sqrt().sum(dim=1)
            results["curve_energy"] = (squared / dt).sum(dim=1)
        else:
            points = torch.from_numpy(data["points"][:])
            vectors = torch.from_numpy(data["vectors"][:]) if args.workload == "stein" else None
            logdets, norms = [], []
            for i in range(0, len(points), args.batch):
                x = points[i:i + args.batch]
                if args.workload == "stein":
                    s = score(x.float()).double()
                    logdets.append(torch.log1p(args.lam * (s * s).sum(dim=1)))
                    norms.append(stein_squared_norm(s, vectors[i:i + args.batch], args.lam).sqrt())
                else:
                    single = lambda p: score(p.unsqueeze(0)).squeeze(0)
                    jacobian = vmap(jacfwd(single))(x.float()).double()
                    eye = torch.eye(x.shape[1], dtype=torch.float64)
                    g = args.lam * eye + jacobian.transpose(1, 2) @ jacobian
                    logdets.append(torch.linalg.slogdet(g).logabsdet)
            results["logdet"] = torch.cat(logdets)
            if norms:
                results["norm"] = torch.cat(norms)
    elapsed = time.perf_counter() - started

    with h5py.File(args.output, "w") as out:
        for name, values in results.items():
            out[name] = values.numpy()
    print(f"metric_reference: {args.workload} in {elapsed:.3f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
