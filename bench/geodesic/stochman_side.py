"""Stochman's side of the geodesic benchmark.

Solves boundary-value geodesics between the rows of a pairs file under the stein metric
g = I + lambda s s^T of a Gaussian-mixture score, with Stochman's CubicSpline curves and its
geodesic_minimizing_energy (Adam, energy evaluated at the left node of each grid segment). The
length of each resulting curve is then measured on a fine grid with the midpoint rule, so the
reported error is that of the curve Stochman found, not of its coarse energy.

Usage: python3 stochman_side.py STOCHMAN_DIR SPEC PAIRS NODES GRID ITERATIONS OUTPUT
SPEC is the scorekit model string gmm:weights=..;means=..;covs=.. with full covariances.
Prints the solve's wall and CPU seconds and the number of pairs flagged converged.
"""
import sys
import time

import torch

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)


def parse_spec(spec):
    fields = dict(item.split("=", 1) for item in spec.split(":", 1)[1].split(";"))
    weights = torch.tensor([float(w) for w in fields["weights"].split(",")])
    means = torch.tensor([[float(v) for v in m.split(",")] for m in fields["means"].split("/")])
    d = means.shape[1]
    covs = torch.stack([torch.tensor([float(v) for v in c.split(",")]).reshape(d, d)
                        for c in fields["covs"].split("/")])
    return weights / weights.sum(), means, covs


class SteinMixture:
    """Score of a Gaussian mixture in closed form, differentiable by autograd."""

    def __init__(self, weights, means, covs, lam):
        self.log_weights = weights.log()
        self.means = means
        self.precisions = torch.linalg.inv(covs)
        self.log_norms = -0.5 * torch.logdet(2 * torch.pi * covs)
        self.lam = lam

    def score(self, x):
        centred = x.unsqueeze(1) - self.means.unsqueeze(0)              # N x K x D
        whitened = torch.einsum("kde,nke->nkd", self.precisions, centred)
        log_terms = self.log_weights + self.log_norms - 0.5 * (centred * whitened).sum(-1)
        responsibility = torch.softmax(log_terms, dim=1)                 # N x K
        return -(responsibility.unsqueeze(-1) * whitened).sum(1)


def main():
    stochman_dir, spec, pairs_path, nodes, grid, iterations, output = sys.argv[1:8]
    sys.path.insert(0, stochman_dir)
    from stochman.curves import CubicSpline
    from stochman.geodesic import geodesic_minimizing_energy
    from stochman.manifold import Manifold

    weights, means, covs = parse_spec(spec)
    field = SteinMixture(weights, means, covs, lam=1.0)

    class SteinManifold(Manifold):
        def metric(self, points):
            s = field.score(points)
            eye = torch.eye(points.shape[1]).expand(points.shape[0], -1, -1)
            return eye + field.lam * s.unsqueeze(2) * s.unsqueeze(1)

    manifold = SteinManifold()
    rows = [[float(v) for v in line.split()] for line in open(pairs_path) if line.strip()]
    pairs = torch.tensor(rows)
    d = pairs.shape[1] // 2
    begin, end = pairs[:, :d].contiguous(), pairs[:, d:].contiguous()

    start = time.perf_counter()
    start_cpu = time.process_time()
    curve = CubicSpline(begin, end, num_nodes=int(nodes))
    converged = geodesic_minimizing_energy(curve, manifold, max_iter=int(iterations), eval_grid=int(grid))
    elapsed = time.perf_counter() - start
    elapsed_cpu = time.process_time() - start_cpu

    with torch.no_grad():
        t = torch.linspace(0, 1, 4001)
        points = curve(t)                                                # B x 4001 x D
        steps = points[:, 1:] - points[:, :-1]
        middle = 0.5 * (points[:, 1:] + points[:, :-1])
        s = field.score(middle.reshape(-1, d)).reshape(steps.shape)
        squared = (steps * steps).sum(-1) + field.lam * (s * steps).sum(-1) ** 2
        lengths = squared.sqrt().sum(1)
    with open(output, "w") as out:
        for value in lengths.tolist():
            out.write(f"{value:.17g}\n")
    print(f"{elapsed:.3f} {elapsed_cpu:.3f} {int(bool(converged)) * len(rows)}")


if __name__ == "__main__":
    main()
