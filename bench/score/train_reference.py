"""Reference for score-train: the same denoising score matching run in idiomatic PyTorch.

Does the work that `score-train --width W --depth K --batch-size B --steps N` does with its
defaults: standardise the data with the population standard deviation, hold out 10 % for
validation, use 10 geometric noise levels from the largest pairwise distance of the training
set down to 0.01, and train the MLP [z, log sigma] -> sigma * s_z with the loss
mean_batch || f + u ||^2 (u ~ N(0, I), one level drawn per example), Adam (lr 1e-3), and an
exponential moving average of the weights (decay min(0.999, (1 + t) / (10 + t))). Every 500
steps the validation loss of the averaged weights is computed, as score-train does. Batches walk
a fresh permutation of the training set per epoch and wrap around when the batch is larger than
the remainder. The model is written in score-train's HDF5 layout, so `langevin -m` can load it.

Random draws differ from score-train's (other generators), so losses agree only statistically.
"""
import argparse
import math
import sys
import time

import h5py
import numpy as np
import torch
from torch import nn


class ScoreMlp(nn.Module):
    def __init__(self, dim, width, depth):
        super().__init__()
        sizes = [dim + 1] + [width] * depth + [dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, h):
        for layer in self.layers[:-1]:
            h = nn.functional.softplus(layer(h))
        return self.layers[-1](h)


def read_points(path):
    return np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="CSV file with a header line")
    parser.add_argument("-o", "--output", required=True, help="model file (HDF5)")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_arguments()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    # sigma_min 0.01 matches the --sigma-min that run.sh passes to score-train.
    levels, sigma_min, learning_rate, ema_decay, val_fraction, log_every = 10, 0.01, 1e-3, 0.999, 0.1, 500

    x = read_points(args.input)
    mean, std = x.mean(axis=0), x.std(axis=0)
    z = torch.from_numpy((x - mean) / std).float()
    order = torch.randperm(len(z))
    validation_count = int(math.floor(val_fraction * len(z)))
    validation, train = z[order[:validation_count]], z[order[validation_count:]]

    sigma_max = max(torch.cdist(train[:2000], train[:2000]).max().item(), sigma_min)
    sigmas = torch.tensor(np.geomspace(sigma_max, sigma_min, levels), dtype=torch.float32)
    log_sigmas = sigmas.log()
    dim = z.shape[1]

    model = ScoreMlp(dim, args.width, args.depth)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    averaged = [p.detach().clone() for p in model.parameters()]
    val_level = torch.arange(validation_count) % levels
    val_noise = torch.randn(validation.shape)
    rows, batch = len(train), args.batch_size
    per_epoch = max(1, (rows + batch - 1) // batch)
    offsets = torch.arange(batch)

    def network_loss(points, level, noise):
        sigma = sigmas[level].unsqueeze(1)
        inputs = torch.cat([points + sigma * noise, log_sigmas[level].unsqueeze(1)], dim=1)
        return (model(inputs) + noise).pow(2).sum(dim=1).mean()

    started = time.perf_counter()
    loss_sum, loss_count, history = 0.0, 0, []
    for step in range(1, args.steps + 1):
        epoch, slot = divmod(step - 1, per_epoch)
        if slot == 0:
            permutation = torch.randperm(rows)
        points = train[permutation[(slot * batch + offsets) % rows]]
        level = torch.randint(0, levels, (batch,))
        noise = torch.randn(batch, dim)

        loss = network_loss(points, level, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            decay = min(ema_decay, (1.0 + step) / (10.0 + step))
            for average, parameter in zip(averaged, model.parameters()):
                average.mul_(decay).add_(parameter, alpha=1 - decay)

        value = loss.item()
        if not math.isfinite(value):
            sys.exit(f"training diverged at step {step}")
        loss_sum += value
        loss_count += 1
        if step % log_every == 0 or step == args.steps:
            with torch.no_grad():
                current = [p.detach().clone() for p in model.parameters()]
                for parameter, average in zip(model.parameters(), averaged):
                    parameter.copy_(average)
                val_loss = network_loss(validation, val_level, val_noise).item() if validation_count else math.nan
                for parameter, saved in zip(model.parameters(), current):
                    parameter.copy_(saved)
            history.append((step, loss_sum / loss_count, val_loss))
            loss_sum, loss_count = 0.0, 0
    elapsed = time.perf_counter() - started

    with h5py.File(args.output, "w") as out:
        group = out.create_group("model")
        for key, value in [("kind", "mlp-score"), ("dim", dim), ("width", args.width), ("depth", args.depth),
                           ("activation", "softplus"), ("num_levels", levels),
                           ("sigma_max", float(sigmas[0])), ("sigma_min", float(sigmas[-1]))]:
            group.attrs[key] = value
        group["sigmas"] = sigmas.double().numpy()
        group["data_mean"] = mean
        group["data_std"] = std
        names = [name for name, _ in model.named_parameters()]
        for name, average in zip(names, averaged):
            group[name] = average.double().numpy()
        out["training_log"] = np.array(history)

    print(f"train_reference: {args.steps} steps in {elapsed:.3f} s of training loop, "
          f"last train loss {history[-1][1]:.4f}, validation loss {history[-1][2]:.4f}", file=sys.stderr)


if __name__ == "__main__":
    main()
