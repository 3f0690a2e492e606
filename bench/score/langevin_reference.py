"""Reference for `langevin --method ula`: the same unadjusted Langevin updates in idiomatic PyTorch.

Runs z <- z + eps s(z) + sqrt(2 eps) xi for every chain at once, starting from
N(0, sigma_max^2 I) in the model's standardised coordinates (sigma_max: the model's largest noise
level, or 1 for an analytic mixture), and keeps the final state (langevin's --thin 0), checking every
100 steps that the chains stayed finite. The score is either

* an analytic Gaussian mixture given as `gmm:weights=...;means=...;covs=...` (the langevin -m
  syntax with isotropic covariances: one variance per component, or one shared), evaluated
  exactly in float64 like langevin's analytic models, or
* a model file written by score-train, read with h5py and evaluated in float32 at its smallest
  noise level: s_z = f([z, log sigma]) / sigma.

Samples are written in data coordinates to an HDF5 dataset /samples.
"""
import argparse
import math
import sys
import time

import h5py
import numpy as np
import torch
from torch import nn


def parse_mixture(spec):
    parts = dict(item.split("=", 1) for item in spec[len("gmm:"):].split(";"))
    weights = torch.tensor([float(w) for w in parts["weights"].split(",")], dtype=torch.float64)
    means = torch.tensor([[float(v) for v in m.split(",")] for m in parts["means"].split("/")], dtype=torch.float64)
    variances = [float(v) for v in parts["covs"].split("/")]
    if len(variances) == 1:
        variances = variances * len(weights)
    return weights / weights.sum(), means, torch.tensor(variances, dtype=torch.float64)


class MixtureScore:
    """Exact score of sum_k w_k N(mu_k, v_k I): responsibilities times -(x - mu_k) / v_k."""

    def __init__(self, spec):
        weights, self.means, self.variances = parse_mixture(spec)
        dim = self.means.shape[1]
        self.log_normaliser = weights.log() - 0.5 * dim * (math.log(2 * math.pi) + self.variances.log())
        self.dim, self.dtype, self.initial_scale = dim, torch.float64, 1.0

    def __call__(self, z):
        centred = z.unsqueeze(1) - self.means  # [N, K, D]
        log_terms = self.log_normaliser - 0.5 * centred.pow(2).sum(dim=2) / self.variances
        responsibility = torch.softmax(log_terms, dim=1)
        return -(responsibility / self.variances).unsqueeze(2).mul(centred).sum(dim=1)

    def to_data(self, z):
        return z


class MlpScore:
    """A score-train model: network [z, log sigma] -> sigma * s_z at the smallest noise level."""

    def __init__(self, path):
        with h5py.File(path, "r") as file:
            group = file["model"]
            depth, self.dim = int(group.attrs["depth"]), int(group.attrs["dim"])
            sigmas = group["sigmas"][:]
            self.sigma, self.initial_scale = float(sigmas[-1]), float(sigmas[0])
            self.mean = torch.from_numpy(group["data_mean"][:])
            self.std = torch.from_numpy(group["data_std"][:])
            self.layers = []
            for layer in range(depth + 1):
                weight = torch.from_numpy(group[f"layers.{layer}.weight"][:]).float()
                bias = torch.from_numpy(group[f"layers.{layer}.bias"][:]).float()
                self.layers.append((weight, bias))
        self.dtype = torch.float32

    def __call__(self, z):
        h = torch.cat([z, torch.full((len(z), 1), math.log(self.sigma))], dim=1)
        for weight, bias in self.layers[:-1]:
            h = nn.functional.softplus(torch.addmm(bias, h, weight.t()))
        weight, bias = self.layers[-1]
        return torch.addmm(bias, h, weight.t()) / self.sigma

    def to_data(self, z):
        return z.double() * self.std + self.mean


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", required=True, help="gmm:... spec or a score-train model file")
    parser.add_argument("-o", "--output", required=True, help="samples (HDF5)")
    parser.add_argument("--chains", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--step-size", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_arguments()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    score = MixtureScore(args.model) if args.model.startswith("gmm:") else MlpScore(args.model)
    eps = args.step_size
    noise_scale = math.sqrt(2 * eps)

    started = time.perf_counter()
    with torch.no_grad():
        z = score.initial_scale * torch.randn(args.chains, score.dim, dtype=score.dtype)
        s = score(z)
        for step in range(1, args.steps + 1):
            z = z + eps * s + noise_scale * torch.randn(args.chains, score.dim, dtype=score.dtype)
            s = score(z)
            if (step % 100 == 0 or step == args.steps) and not torch.isfinite(z).all():
                sys.exit(f"langevin_reference: chains diverged by step {step}; lower --step-size")
    elapsed = time.perf_counter() - started

    with h5py.File(args.output, "w") as out:
        out["samples"] = score.to_data(z).numpy()
    print(f"langevin_reference: {args.chains} chains x {args.steps} steps in {elapsed:.3f} s of sampling loop",
          file=sys.stderr)


if __name__ == "__main__":
    main()
