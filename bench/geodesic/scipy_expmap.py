"""SciPy's side of the exponential-map benchmark.

Integrates the geodesic equation of the stein metric g = I + lambda s s^T of a Gaussian-mixture
score, x'' = -lambda s (v^T J v) / (1 + lambda |s|^2), from each row (x, v) of a shots file
over t in [0, 1] with scipy.integrate.solve_ivp, one shot at a time, as a SciPy user would.
The score s and its Jacobian J (the Hessian of log p) are closed forms in NumPy.

Usage: python3 scipy_expmap.py SPEC SHOTS METHOD RTOL ATOL OUTPUT
SPEC is the scorekit model string gmm:weights=..;means=..;covs=.. with full covariances. METHOD
is a solve_ivp method (RK45 is Dormand-Prince 5(4), as in scorekit; DOP853 for the reference).
Writes the end points and end velocities, one shot per row, and prints the integration's wall
and CPU seconds and the number of right-hand-side evaluations.
"""
import sys
import time

import numpy as np
from scipy.integrate import solve_ivp


def parse_spec(spec):
    fields = dict(item.split("=", 1) for item in spec.split(":", 1)[1].split(";"))
    weights = np.array([float(w) for w in fields["weights"].split(",")])
    means = np.array([[float(v) for v in m.split(",")] for m in fields["means"].split("/")])
    d = means.shape[1]
    covs = np.stack([np.array([float(v) for v in c.split(",")]).reshape(d, d) for c in fields["covs"].split("/")])
    return weights / weights.sum(), means, covs


class SteinMixture:
    """Score and score Jacobian of a Gaussian mixture in closed form."""

    def __init__(self, weights, means, covs, lam):
        self.log_weights = np.log(weights)
        self.means = means
        self.precisions = np.linalg.inv(covs)
        self.log_norms = -0.5 * np.linalg.slogdet(2 * np.pi * covs)[1]
        self.lam = lam

    def score_and_jacobian(self, x):
        centred = x - self.means                                     # K x D
        pulls = -np.einsum("kde,ke->kd", self.precisions, centred)  # -P_k (x - m_k)
        log_terms = self.log_weights + self.log_norms + 0.5 * np.einsum("kd,kd->k", centred, pulls)
        responsibility = np.exp(log_terms - log_terms.max())
        responsibility /= responsibility.sum()
        score = responsibility @ pulls
        # Hessian of log p: sum_k r_k (-P_k + a_k a_k^T) - s s^T.
        jacobian = np.einsum("k,kde->de", responsibility,
                             -self.precisions + np.einsum("kd,ke->kde", pulls, pulls)) - np.outer(score, score)
        return score, jacobian

    def rhs(self, _t, y):
        d = y.size // 2
        x, v = y[:d], y[d:]
        score, jacobian = self.score_and_jacobian(x)
        acceleration = -self.lam * score * (v @ jacobian @ v) / (1 + self.lam * score @ score)
        return np.concatenate([v, acceleration])


def main():
    spec, shots_path, method, rtol, atol, output = sys.argv[1:7]
    field = SteinMixture(*parse_spec(spec), lam=1.0)
    shots = np.loadtxt(shots_path, ndmin=2)
    ends = np.empty_like(shots)
    evaluations = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for k, row in enumerate(shots):
        solution = solve_ivp(field.rhs, (0.0, 1.0), row, method=method, rtol=float(rtol), atol=float(atol))
        if not solution.success:
            sys.exit(f"scipy_expmap.py: shot {k} failed: {solution.message}")
        ends[k] = solution.y[:, -1]
        evaluations += solution.nfev
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    np.savetxt(output, ends, fmt="%.17g", delimiter="\t")
    print(f"{wall:.3f} {cpu:.3f} {evaluations}")


if __name__ == "__main__":
    main()
