"""Data sets shared by the tests: one module, one name per kind of data.

Each is seeded and returns ``(X, extra)``: the sample weights for
:func:`clusters_with_tail`, the generator (for queries) for the others.
"""

import numpy as np


def clusters_with_tail(n, d, seed):
    """Two clusters of different spread and a sparse tail, with random weights."""
    rng = np.random.default_rng(seed)
    # Two clusters of different spread and a sparse tail: dense and empty
    # regions, and a full (non-diagonal) bandwidth matrix under Scott's rule.
    A = rng.normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
    X = np.vstack(
        [
            rng.normal(size=(n // 2, d)) @ A,
            rng.normal(size=(n - n // 2 - n // 20, d)) * 0.3 + 3,
            rng.standard_t(2, size=(n // 20, d)) * 2,
        ]
    )
    return X, rng.uniform(0.1, 2.0, size=n)


def offset_correlated(n, d, seed=0):
    """One correlated Gaussian cloud away from the origin."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
    X = rng.normal(size=(n, d)) @ A + rng.normal(scale=5, size=d)
    return X, rng


def three_elongated_clusters(n, d, seed=0):
    """Three elongated, offset clusters of different sizes."""
    # Three elongated, offset clusters of different sizes.
    rng = np.random.default_rng(seed)
    parts = []
    for k, size in enumerate([n // 2, n // 3, n - n // 2 - n // 3]):
        A = rng.normal(size=(d, d)) / np.sqrt(d) + (0.5 + 0.5 * k) * np.eye(d)
        parts.append(rng.normal(size=(size, d)) @ A + rng.normal(scale=4, size=d))
    return np.vstack(parts) + 10.0, rng
