"""Make the models and inputs of the fim benchmark.

Usage: prepare.py DIGITS_CSV_GZ OUTPUT_DIR

  digits_mlp      64-256-10 ReLU classifier trained on the digits (1797 x 64, pixels / 16)
  digits_small    64-32-10 ReLU classifier trained the same way (for dense)
  wide_mlp        784-256-10 ReLU classifier at its random initialisation, 1000 random inputs

Each model is saved twice: as TorchScript (`NAME.pt`, for fim) and as a state dict
(`NAME.state.pt`, for the eager nn.Sequential that nngeometry's hooks need). Inputs are in
`inputs.h5` (datasets /digits, /random; float32 values stored as float64).
"""
import gzip
import os
import sys

import h5py
import numpy as np
import torch
from torch import nn

ARCHITECTURES = {"digits_mlp": (64, 256, 10), "digits_small": (64, 32, 10), "wide_mlp": (784, 256, 10)}


def build(name):
    sizes = ARCHITECTURES[name]
    return nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.ReLU(), nn.Linear(sizes[1], sizes[2]))


def train(model, x, y, epochs=30):
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        order = torch.randperm(x.size(0), generator=generator)
        for start in range(0, x.size(0), 128):
            batch = order[start:start + 128]
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimiser.step()
    accuracy = (model(x).argmax(1) == y).float().mean().item()
    return accuracy


def save(model, name, out):
    torch.jit.script(model).save(os.path.join(out, name + ".pt"))
    torch.save(model.state_dict(), os.path.join(out, name + ".state.pt"))


def main(csv_path, out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    with gzip.open(csv_path, "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    x = torch.tensor(table[:, :-1] / 16.0, dtype=torch.float32)
    y = torch.tensor(table[:, -1], dtype=torch.long)

    for name in ("digits_mlp", "digits_small"):
        model = build(name)
        accuracy = train(model, x, y)
        print(f"{name}: training accuracy {accuracy:.4f}")
        save(model, name, out)
    save(build("wide_mlp"), "wide_mlp", out)

    random_inputs = torch.randn(1000, 784)
    with h5py.File(os.path.join(out, "inputs.h5"), "w") as f:
        f["digits"] = x.double().numpy()
        f["random"] = random_inputs.double().numpy()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
