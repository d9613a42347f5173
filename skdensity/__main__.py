"""Demo: ``python -m skdensity`` fits a GaussianKDE on Old Faithful."""

import numpy as np

from . import GaussianKDE
from .datasets import load_faithful


def main():
    X, names = load_faithful()
    kde = GaussianKDE(bandwidth="scott").fit(X)
    print(
        f"GaussianKDE(bandwidth='scott') on Old Faithful: {X.shape[0]} rows, "
        f"features {names}"
    )
    print(f"Scott factor {kde.factor_:.4f}; kernel covariance H =\n{kde.covariance_}")
    queries = np.array([[2.0, 55.0], [4.4, 80.0], [3.0, 70.0]])
    log_f = kde.score_samples(queries)
    grad = kde.gradient(queries, log=True)
    hess = kde.hessian(queries, log=True)
    with np.printoptions(precision=4, suppress=True):
        for x, lf, g, h in zip(queries, log_f, grad, hess, strict=True):
            print(f"\nx = {x}")
            print(f"  log f(x)          = {lf:.6f}")
            print(f"  grad log f(x)     = {g}")
            print(f"  Hessian log f(x)  =\n{h}")
            print(f"  Hessian eigenvalues {np.linalg.eigvalsh(h)}")


if __name__ == "__main__":
    main()
