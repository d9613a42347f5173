"""Independent numerical oracles for the tests: Richardson-extrapolated differences.

Central differences have error ``c2 h^2 + c4 h^4 + ...``; halving the step ``levels``
times and eliminating the leading terms (a Richardson table) leaves an error of
order ``h^(2 levels + 2)``, so that derivatives are recovered to ~1e-9 relative
with steps of a tenth of the function's length scale, far from round-off.
"""

import numpy as np

# (label, max error / tolerance) of every comparison made with these helpers:
# the margin each keeps against a less accurate BLAS or platform (reported,
# never asserted; it should stay below 0.1).
MARGINS = []


def _richardson(estimates):
    """Extrapolate estimates at steps h, h/2, h/4, ... of an even-order error."""
    table = list(estimates)
    factor = 4.0
    while len(table) > 1:
        table = [
            (factor * fine - coarse) / (factor - 1)
            for coarse, fine in zip(table, table[1:], strict=False)
        ]
        factor *= 4.0
    return table[0]


def richardson_gradient(func, X, steps, levels=4):
    """Gradient of a vectorised scalar ``func`` (rows -> values) at each row of ``X``.

    Parameters
    ----------
    func : callable
        Maps an (m, d) array to an (m,) array.
    X : ndarray of shape (m, d)
    steps : ndarray of shape (d,)
        Initial step per coordinate (a fraction of the function's length scale).
    levels : int
        Number of step halvings.
    """
    X = np.asarray(X, dtype=np.float64)
    m, d = X.shape
    grad = np.empty((m, d))
    for j in range(d):
        estimates = []
        for level in range(levels + 1):
            h = steps[j] / 2**level
            E = np.zeros(d)
            E[j] = h
            estimates.append((func(X + E) - func(X - E)) / (2 * h))
        grad[:, j] = _richardson(estimates)
    return grad


def richardson_hessian(func, X, steps, levels=4):
    """Hessian of a vectorised scalar ``func`` by extrapolated second differences."""
    X = np.asarray(X, dtype=np.float64)
    m, d = X.shape
    hess = np.empty((m, d, d))
    f0 = func(X)
    for i in range(d):
        for j in range(i, d):
            estimates = []
            for level in range(levels + 1):
                hi, hj = steps[i] / 2**level, steps[j] / 2**level
                Ei, Ej = np.zeros(d), np.zeros(d)
                Ei[i], Ej[j] = hi, hj
                if i == j:
                    est = (func(X + Ei) - 2 * f0 + func(X - Ei)) / hi**2
                else:
                    est = (
                        func(X + Ei + Ej)
                        - func(X + Ei - Ej)
                        - func(X - Ei + Ej)
                        + func(X - Ei - Ej)
                    ) / (4 * hi * hj)
                estimates.append(est)
            hess[:, i, j] = hess[:, j, i] = _richardson(estimates)
    return hess


def assert_close_scaled(actual, desired, rtol):
    """Assert ``|actual - desired| <= rtol * max|desired|`` per query point.

    Entries of a gradient or Hessian that are near zero cannot be matched
    relatively; the error is measured against the largest entry of each point.
    """
    actual, desired = np.asarray(actual), np.asarray(desired)
    axes = tuple(range(1, desired.ndim))
    scale = np.max(np.abs(desired), axis=axes, keepdims=True)
    err = np.max(np.abs(actual - desired) / scale, axis=axes)
    MARGINS.append(("assert_close_scaled", float(err.max() / rtol)))
    assert np.all(err <= rtol), f"max scaled error {err.max():.3e} > {rtol:.1e}"


def assert_on_scale(actual, desired, scale, rtol, label="", atol=1e-300):
    """Assert ``max |actual - desired| <= rtol * scale + atol`` per query point.

    Parameters
    ----------
    actual, desired : ndarray of shape (m, ...)
    scale : ndarray of shape (m,)
        The natural scale of each point's values (e.g. ``ExactDerivatives``'
        scales): the size of the terms a float64 evaluation sums, on which it
        rounds.
    rtol : float
    label : str
        Names the quantity in the failure message and in ``MARGINS``.
    atol : float
        Below float64's normal range (1e-308) values keep no relative
        accuracy; a density that underflows there is compared absolutely.

    Notes
    -----
    ``(label, max error / tolerance)`` is appended to ``MARGINS``: the margin
    each comparison keeps against a less accurate BLAS or platform, for a
    report (it should stay below 0.1).
    """
    actual, desired = np.asarray(actual), np.asarray(desired)
    axes = tuple(range(1, desired.ndim))
    err = (
        np.max(np.abs(actual - desired), axis=axes)
        if axes
        else np.abs(actual - desired)
    )
    ratio = err / (rtol * np.asarray(scale) + atol)
    MARGINS.append((label, float(ratio.max())))
    assert np.all(ratio <= 1), (
        f"{label}: max error / tolerance {ratio.max():.3e} "
        f"(tolerance {rtol:.1e} of the natural scale)"
    )
