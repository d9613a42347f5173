"""Independent numerical oracles for the tests: Richardson-extrapolated differences,
and the assertions that compare with an oracle on the right scale.

Central differences have error ``c2 h^2 + c4 h^4 + ...``; halving the step ``levels``
times and eliminating the leading terms (a Richardson table) leaves an error of
order ``h^(2 levels + 2)``, so that derivatives are recovered to ~1e-9 of their
scale with steps of a tenth of the function's length scale. That is not enough
for a tight tolerance on every machine: the error left depends on the step, on
the function's rounding and, where a derivative is near zero, is large relative
to it. Compare with ``return_error=True`` and a tolerance that includes (a
multiple of) the returned error bound, or use the exact references of
``_exact.py``.
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


def _richardson_with_error(estimates, roundoff):
    """Extrapolated value and a bound on its error.

    ``roundoff[l]`` bounds the rounding error of estimate ``l``. The
    truncation error is estimated by the change from the extrapolation
    without the finest step to the one with it (which bounds the latter's
    truncation error while the differences are in their asymptotic regime),
    and the rounding errors are propagated through the (linear) table.
    """
    best = _richardson(estimates)
    coarser = _richardson(estimates[:-1])
    unit = np.eye(len(estimates))
    amplification = [abs(_richardson(list(row))) for row in unit]
    rounding = sum(a * r for a, r in zip(amplification, roundoff, strict=True))
    return best, np.abs(best - coarser) + rounding


def _noise(values, noise):
    """Absolute rounding error of ``func``'s values, per point."""
    if noise is not None:
        return noise
    # A float64 density sums terms no larger than its value: 1024 units in the
    # last place of the largest value in the stencil (2.3e-13 relative). A
    # function with cancellation (log f near zero, sklearn's score_samples
    # whitening uncentred data) rounds on a larger scale: pass ``noise``.
    return 1024 * np.finfo(np.float64).eps * np.max(np.abs(values), axis=0)


def richardson_gradient(func, X, steps, levels=4, *, return_error=False, noise=None):
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
    return_error : bool
        Also return a bound on the oracle's own error, per entry: compare
        with a tolerance that includes it (a multiple of it).
    noise : float or ndarray of shape (m,), optional
        Absolute rounding error of ``func``'s values, per point; by default
        1024 ulps of the largest value met in the stencil.

    Returns
    -------
    grad : ndarray of shape (m, d)
    error : ndarray of shape (m, d)
        Only with ``return_error``.
    """
    X = np.asarray(X, dtype=np.float64)
    m, d = X.shape
    grad, error = np.empty((m, d)), np.empty((m, d))
    for j in range(d):
        estimates, values, hs = [], [], []
        for level in range(levels + 1):
            h = steps[j] / 2**level
            E = np.zeros(d)
            E[j] = h
            up, down = func(X + E), func(X - E)
            estimates.append((up - down) / (2 * h))
            values += [up, down]
            hs.append(h)
        eps = _noise(np.array(values), noise)
        grad[:, j], error[:, j] = _richardson_with_error(
            estimates, [eps / h for h in hs]
        )
    return (grad, error) if return_error else grad


def richardson_hessian(func, X, steps, levels=4, *, return_error=False, noise=None):
    """Hessian of a vectorised scalar ``func`` by extrapolated second differences.

    Parameters and returns as :func:`richardson_gradient`, with (m, d, d)
    arrays.
    """
    X = np.asarray(X, dtype=np.float64)
    m, d = X.shape
    hess, error = np.empty((m, d, d)), np.empty((m, d, d))
    f0 = func(X)
    for i in range(d):
        for j in range(i, d):
            estimates, values, denominators = [], [f0], []
            for level in range(levels + 1):
                hi, hj = steps[i] / 2**level, steps[j] / 2**level
                Ei, Ej = np.zeros(d), np.zeros(d)
                Ei[i], Ej[j] = hi, hj
                if i == j:
                    up, down = func(X + Ei), func(X - Ei)
                    est = (up - 2 * f0 + down) / hi**2
                    values += [up, down]
                    # four units of noise over h^2
                    denominators.append(hi**2 / 4)
                else:
                    corners = [
                        func(X + Ei + Ej),
                        func(X + Ei - Ej),
                        func(X - Ei + Ej),
                        func(X - Ei - Ej),
                    ]
                    est = (corners[0] - corners[1] - corners[2] + corners[3]) / (
                        4 * hi * hj
                    )
                    values += corners
                    denominators.append(hi * hj)
                estimates.append(est)
            eps = _noise(np.array(values), noise)
            value, err = _richardson_with_error(
                estimates, [eps / den for den in denominators]
            )
            hess[:, i, j] = hess[:, j, i] = value
            error[:, i, j] = error[:, j, i] = err
    return (hess, error) if return_error else hess


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
    atol : float or ndarray of the shape of ``desired``
        Added to the tolerance, entrywise: an oracle's own error bound (e.g.
        a multiple of Richardson's), or the default: below float64's normal
        range (1e-308) values keep no relative accuracy, and a density that
        underflows there is compared absolutely.

    Notes
    -----
    ``(label, max error / tolerance)`` is appended to ``MARGINS``: the margin
    each comparison keeps against a less accurate BLAS or platform, for a
    report (it should stay below 0.1).
    """
    actual, desired = np.asarray(actual), np.asarray(desired)
    scale = np.asarray(scale, dtype=np.float64).reshape(
        (-1,) + (1,) * (desired.ndim - 1)
    )
    ratio = np.abs(actual - desired) / (rtol * scale + atol)
    ratio = ratio.reshape(len(ratio), -1).max(axis=1)
    MARGINS.append((label, float(ratio.max())))
    assert np.all(ratio <= 1), (
        f"{label}: max error / tolerance {ratio.max():.3e} "
        f"(tolerance {rtol:.1e} of the natural scale)"
    )
