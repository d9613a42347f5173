r"""Binned (grid and FFT) evaluation of a Gaussian KDE in one to three dimensions.

In whitened coordinates :math:`y = (x - c) U` every kernel is the unit
Gaussian, and it factors exactly into three narrower ones,

.. math::

    \phi_1(y - m) = \int\!\!\int \phi_\beta(y - z_2)\,
        \phi_\gamma(z_2 - z_1)\, \phi_\alpha(z_1 - m)\, dz_1\, dz_2,
    \qquad \alpha + \gamma + \beta = 1

(per coordinate; :math:`\phi_v` is the centred normal density of variance
:math:`v`). Both integrals are replaced by sums over a regular grid of
spacing :math:`\delta` (trapezoidal rule), which gives three steps:

1. **binning**: each weighted centre is spread onto the grid nodes near it
   with the narrow Gaussian :math:`\phi_\alpha` (the smooth analogue of
   linear binning);
2. **FFT convolution** of the binned grid with :math:`\delta^2 \phi_\gamma`
   along each axis (:func:`scipy.signal.fftconvolve`);
3. **interpolation** at each query with :math:`\phi_\beta` and its first and
   second derivatives, which gives :math:`f`, :math:`\nabla_y f` and
   :math:`\nabla_y^2 f` from the same approximation.

Accuracy. The trapezoidal rule applied to a Gaussian integrand of variance
:math:`v` errs by :math:`2 e^{-2\pi^2 v/\delta^2}` relative to the integral
(Poisson summation), and here :math:`v = \alpha(1 - \alpha)` at both steps
(with :math:`\beta = \alpha`). Unlike linear binning, whose error is
:math:`O(\delta^2)` in absolute terms, this error is relative to each kernel
term and exponentially small: :math:`\alpha = a\delta^2` with
:math:`a(1-\alpha) = \ln(1600\,d/\mathrm{rtol}) / (2\pi^2)` keeps the
aliasing error of :math:`f` far below rtol times :math:`f`; the derivative
terms carry polynomial factors in :math:`2\pi/\delta`, so their errors are
larger. Measured (``tests/test_approximate.py`` and their calibration, d = 1
to 3, rtol = 1e-2 to 1e-6, in the norms of :mod:`skdensity._approximate`):
:math:`f` errs by at most 0.07 rtol, :math:`\nabla_y f` by 0.2 rtol and
:math:`\nabla_y^2 f`, the largest, by 0.7 rtol times :math:`f`; the
constant 1600 was calibrated for that margin (with 160 the Hessian error
reaches 3.5 rtol).
The spreading and
interpolation Gaussians are cut at :math:`\alpha r_b + z\sqrt\alpha` per axis,
with :math:`\mathrm{erfc}(z/\sqrt2)` about :math:`\mathrm{rtol}/(100 d)`, so
that every pair of query and centre closer than the trusted radius
:math:`r_b = (2 \ln(10^9/\mathrm{rtol}))^{1/2}` keeps that accuracy; pairs
farther apart may be lost. They contribute at most
:math:`\kappa\, e^{-r_b^2/2} C_k` to the :math:`k`-th derivative
(:math:`C_0 = 1`, :math:`C_1 = r_b + \rho\sqrt d/\beta`,
:math:`C_2 = C_1^2`, :math:`\rho` the per-axis interpolation cut-off, as
:math:`\|\nabla\phi_\beta(u)\| = (\|u\|/\beta)\,\phi_\beta(u)`), so a
query is trusted only where this is below :math:`\mathrm{rtol}/2` times the
binned density (and the density is well above the FFT's round-off); other
queries, and queries off the grid, are evaluated by the tree path instead.

The grid spacing is :math:`\delta = 0.25` bandwidths by default (coarser
when the grid would exceed :data:`MAX_GRID_NODES` nodes), and at most
:math:`\delta_{\max} = (0.24/\ell)^{1/2}`, :math:`\ell = a(1 - \alpha)`, so
that :math:`\alpha = \beta \le 0.4` and :math:`\gamma \ge 0.2` (about 0.52
bandwidths for the default rtol in 2-D). The stencils hold
:math:`2\lceil(\alpha r_b + z\sqrt\alpha)/\delta\rceil + 2` nodes per axis
(16 for the default rtol in 2-D), which sets the cost: :math:`16^d` grid
updates per centre when binning (at fit) and :math:`16^d` grid reads per
query.

Gaussian gridding of this kind is the core of fast Gauss transforms and
non-uniform FFTs (Greengard and Lee, SIAM Review 46, 2004).
"""

import numpy as np
from scipy.signal import fftconvolve

from .._core import (
    LOG_2PI,
    empty_outputs,
    single_threaded_blas,
    store_rows,
    working_memory_bytes,
)

#: Largest grid (nodes) the binned path builds: 2**23 float64 = 64 MiB.
MAX_GRID_NODES = 2**23
#: Largest dimension of the binned path.
MAX_FEATURES = 3
_DEFAULT_SPACING = 0.25
#: Safety factors of the aliasing error, of the stencil cut-off and of the
#: trusted radius (module docstring).
_ALIAS_MARGIN, _CUT_MARGIN, _FAR_MARGIN = 1600.0, 100.0, 1e9
#: Smallest variance left to the FFT convolution step.
_MIN_GAMMA = 0.2


def _alias_level(rtol, d):
    """``alpha (1 - alpha) / delta**2``, which sets the aliasing error."""
    return np.log(_ALIAS_MARGIN * d / rtol) / (2 * np.pi**2)


def _max_spacing(rtol, d):
    """Largest grid step: alpha = beta <= (1 - _MIN_GAMMA) / 2."""
    alpha_max = (1 - _MIN_GAMMA) / 2
    return np.sqrt(alpha_max * (1 - alpha_max) / _alias_level(rtol, d))


def check_grid_spacing(rtol, n_features, grid_spacing):
    """Raise ValueError when ``grid_spacing`` is too coarse for ``rtol``."""
    delta_max = _max_spacing(rtol, n_features)
    if grid_spacing is not None and grid_spacing > delta_max:
        raise ValueError(
            f"grid_spacing={grid_spacing!r} is too coarse for rtol={rtol!r}: "
            f"the binned path needs a spacing of at most {delta_max:.3g} "
            "kernel bandwidths. Pass a smaller grid_spacing, a larger rtol, "
            "or grid_spacing=None to choose it."
        )


def binned_parameters(rtol, n_features, spread, grid_spacing=None):
    """Grid spacing, variances and cut-offs of the binned path.

    Parameters
    ----------
    rtol : float
        Relative tolerance.
    n_features : int
        Dimension d (1 to 3).
    spread : ndarray of shape (d,)
        Extent of the whitened centres along each axis (max - min).
    grid_spacing : float or None
        Spacing in bandwidths; ``None`` chooses it.

    Returns
    -------
    dict
        ``delta, alpha, beta, gamma, r_b, pad`` (whitened units) and the
        cut-offs ``n_spread`` (spreading and interpolation) and ``n_conv``
        (convolution kernel) in grid steps. Raises ValueError when the grid
        cannot be built.
    """
    d = n_features
    level = _alias_level(rtol, d)
    r_b = np.sqrt(2 * np.log(_FAR_MARGIN / rtol))
    z = np.sqrt(2 * np.log(_CUT_MARGIN * d / rtol))
    delta_max = _max_spacing(rtol, d)

    def alpha_of(delta):
        return 0.5 * (1 - np.sqrt(max(0.0, 1 - 4 * level * delta**2)))

    def cut(delta):
        alpha = alpha_of(delta)
        return alpha * r_b + z * np.sqrt(alpha)

    def pad(delta):
        return 0.5 * r_b + cut(delta) + 2 * delta

    def nodes(delta):
        return float(np.prod(np.floor((spread + 2 * pad(delta)) / delta) + 2))

    if grid_spacing is None:
        delta = min(_DEFAULT_SPACING, delta_max)
        while nodes(delta) > MAX_GRID_NODES and delta < delta_max:
            delta = min(delta_max, delta * 1.25)
    else:
        delta = float(grid_spacing)
        check_grid_spacing(rtol, d, grid_spacing)
    if nodes(delta) > MAX_GRID_NODES:
        raise ValueError(
            f"The data span too many bandwidths for algorithm='binned': its grid "
            f"would need {nodes(delta):.3g} nodes (at most {MAX_GRID_NODES} are "
            "built). Use algorithm='tree' or 'auto', or a larger rtol."
        )
    alpha = alpha_of(delta)
    gamma = 1.0 - 2 * alpha
    return {
        "delta": delta,
        "alpha": alpha,
        "beta": alpha,
        "gamma": gamma,
        "r_b": r_b,
        "pad": pad(delta),
        "n_spread": int(np.ceil(cut(delta) / delta)),
        "n_conv": int(np.ceil((gamma * r_b + z) / delta)),
    }


def _axis_weights(u, variance, order):
    """1-D Gaussian of ``variance`` at offsets ``u`` and its derivatives with
    respect to the query, stacked: shape (order + 1, *u.shape)."""
    phi = np.exp(-0.5 / variance * u**2) / np.sqrt(2 * np.pi * variance)
    out = [phi]
    if order >= 1:
        out.append(-u / variance * phi)
    if order >= 2:
        out.append((u**2 / variance - 1) / variance * phi)
    return np.stack(out)


def _chunk_rows(bytes_per_row):
    return max(1, working_memory_bytes() // max(1, bytes_per_row))


def _outer_sum(factors):
    """``sum_r outer(factors[0][r], ..., factors[-1][r])`` as a d-way array,
    by one matrix product (rows are contracted)."""
    A = factors[0]
    if len(factors) == 1:
        return A.sum(axis=0)
    rest = factors[1]
    for B in factors[2:]:
        rest = (rest[:, :, None] * B[:, None, :]).reshape(len(A), -1)
    shape = tuple(F.shape[1] for F in factors)
    return (A.T @ rest).reshape(shape)


class BinnedEvaluator:
    """Binned log-density and derivatives of a shared-precision KDE, d <= 3.

    Parameters
    ----------
    mixture : SharedPrecisionMixture
        The fitted mixture: its whitened centres are binned with their
        weights.
    rtol : float
        Relative tolerance (module docstring).
    fallback : TreeEvaluator
        Evaluates the queries the grid cannot be trusted at.
    grid_spacing : float or None
        Grid step in kernel bandwidths (whitened units).
    """

    def __init__(self, mixture, rtol, fallback, grid_spacing=None):
        d = mixture.n_features
        self.rtol = rtol
        self.fallback = fallback
        self.prec_chol = prec_chol = mixture.prec_chol
        self.center = mixture.center
        self.log_det = float(np.log(np.diag(prec_chol)).sum())
        white = mixture.global_white_means
        weights = np.exp(mixture.log_weights)
        lo, hi = white.min(axis=0), white.max(axis=0)
        p = binned_parameters(rtol, d, hi - lo, grid_spacing)
        self.params = p
        delta = p["delta"]
        self.origin = lo - p["pad"]
        self.shape = tuple(
            int(s) for s in np.floor((hi - lo + 2 * p["pad"]) / delta) + 2
        )
        self.strides = np.array(
            [int(np.prod(self.shape[j + 1 :])) for j in range(d)], dtype=np.intp
        )
        self.grid = self._convolve(self._bin(white, weights))
        # FFT round-off is relative to the largest grid value: below this
        # density (whitened units) the grid is not trusted.
        self.log_floor = float(
            np.log(max(np.abs(self.grid).max(), 1e-300) * 1e-13 / rtol)
            - d * np.log(delta)
        )
        beta = p["beta"]
        c1 = p["r_b"] + (p["n_spread"] + 1) * delta * np.sqrt(d) / beta
        log_c = np.log([1.0, c1, c1**2])
        self.log_far = -0.5 * d * LOG_2PI - 0.5 * p["r_b"] ** 2 + log_c
        self.log_far += np.log(2.0 / rtol)

    def _stencil(self, points, order, variance):
        """Stencil of each point: flat index of its base node, flat offsets of
        the ``L**d`` stencil nodes, per-axis weights (a list of d arrays of
        shape (order + 1, m, L)), and the mask of points whose stencil lies on
        the grid (the others get a dummy in-grid base)."""
        delta, k = self.params["delta"], self.params["n_spread"]
        t = np.arange(-k, k + 2)
        with np.errstate(over="ignore", invalid="ignore"):  # far: off the grid
            pos = (points - self.origin) / delta
            base = np.floor(pos)
            inside = np.all(
                (base - k >= 0) & (base + k + 1 <= np.array(self.shape) - 1), axis=1
            )
        base = np.where(inside[:, None], base, k).astype(np.intp)
        # Points off the grid get the dummy base's weights, not overflowing ones.
        pos = np.where(inside[:, None], pos, base)
        axis_w = [
            _axis_weights(
                delta * (pos[:, j, None] - base[:, j, None] - t), variance, order
            )
            for j in range(points.shape[1])
        ]
        offsets = np.sum(
            np.meshgrid(*[t * stride for stride in self.strides], indexing="ij"),
            axis=0,
        ).ravel()
        return base @ self.strides, offsets, axis_w, inside

    def _bin(self, white, weights):
        """Spread the weighted centres with the Gaussian of variance alpha.

        Centres are grouped by tiles of ``T = L`` grid steps (``L`` the
        stencil width); the stencils of a tile's centres fall in a window of
        ``(T + L)**d`` nodes, which receives them all at once as a dense
        matrix product of their per-axis weights (BLAS), instead of one
        scattered update per centre and node.
        """
        delta, k = self.params["delta"], self.params["n_spread"]
        L = 2 * k + 2
        W = 2 * L  # window width: tile T = L plus stencil L
        pos = (white - self.origin) / delta
        first = np.floor(pos).astype(np.intp) - k  # first stencil node, >= 0
        tiles = first // L
        tile_shape = tuple(int(s) for s in tiles.max(axis=0) + 1)
        by_tile = np.argsort(np.ravel_multi_index(tiles.T, tile_shape), kind="stable")
        tile_id = np.ravel_multi_index(tiles[by_tile].T, tile_shape)
        bounds = np.flatnonzero(np.diff(tile_id)) + 1
        # Room for the last windows: grid padded by W nodes along each axis.
        grid = np.zeros(tuple(s + W for s in self.shape))
        # Many small products: BLAS threads only add overhead here (limited
        # where the BLAS allows it for this thread alone).
        with single_threaded_blas():
            groups = np.split(by_tile, bounds)
            self._bin_groups(grid, groups, tiles, first, pos, weights)
        return grid[tuple(slice(0, s) for s in self.shape)]

    def _bin_groups(self, grid, groups, tiles, first, pos, weights):
        """Add the stencils of each group (one tile) to its window of ``grid``."""
        d = pos.shape[1]
        delta, k = self.params["delta"], self.params["n_spread"]
        L = 2 * k + 2
        W = 2 * L
        t = np.arange(-k, k + 2)
        max_rows = _chunk_rows(8 * (d + 2) * W ** max(1, d - 1))
        for group in groups:
            corner = tiles[group[0]] * L
            window = (Ellipsis,) + tuple(slice(c, c + W) for c in corner)
            for s in range(0, group.size, max_rows):
                rows = group[s : s + max_rows]
                local = first[rows] - corner
                dense = []
                for j in range(d):
                    u = delta * (pos[rows, j, None] - first[rows, j, None] - k - t)
                    A = np.zeros((rows.size, W))
                    cols = local[:, j, None] + np.arange(L)
                    A[np.arange(rows.size)[:, None], cols] = _axis_weights(
                        u, self.params["alpha"], 0
                    )[0]
                    dense.append(A)
                dense[0] *= weights[rows, None]
                grid[window] += _outer_sum(dense)

    def _convolve(self, grid):
        """Convolve with delta^2 phi_gamma along each axis (FFT); the result
        times delta^d, so that interpolation needs no further factor."""
        p = self.params
        delta, k = p["delta"], p["n_conv"]
        t = delta * np.arange(-k, k + 1)
        kernel = delta**2 * _axis_weights(t, p["gamma"], 0)[0]
        for axis in range(grid.ndim):
            shape = [1] * grid.ndim
            shape[axis] = kernel.size
            grid = fftconvolve(grid, kernel.reshape(shape), mode="same", axes=axis)
        return grid.ravel()

    def evaluate(self, X, order, n_jobs=None):
        """Log f and its derivatives at ``X`` (validated, float64).

        Returns ``(log_f, grad_log_f, hess_log_f)`` as
        :func:`~skdensity._gaussian_mixture_math.log_density_derivatives`.
        """
        m, d = X.shape
        log_f, grad, hess = empty_outputs(m, d, order)
        trusted = np.zeros(m, dtype=bool)
        L = 2 * self.params["n_spread"] + 2
        step = _chunk_rows(8 * (3 + 3**d) * L**d)
        U = self.prec_chol
        for s in range(0, m, step):
            with np.errstate(over="ignore", invalid="ignore"):  # far: off the grid
                Y = (X[s : s + step] - self.center) @ U
            f, g, h, ok = self._interpolate(Y, order)
            rows = np.flatnonzero(ok) + s
            trusted[rows] = True
            f, g = f[ok], None if g is None else g[ok] / f[ok, None]
            log_f[rows] = np.log(f) + self.log_det
            if order >= 1:
                grad[rows] = g @ U.T
            if order >= 2:
                hy = h[ok] / f[:, None, None] - g[:, :, None] * g[:, None, :]
                hy = U @ hy @ U.T
                hess[rows] = 0.5 * (hy + hy.transpose(0, 2, 1))
        rest = np.flatnonzero(~trusted)
        if rest.size:
            values = self.fallback.evaluate(X[rest], order, n_jobs)
            store_rows((log_f, grad, hess), rest, values)
        return log_f, grad, hess

    def _interpolate(self, Y, order):
        """Binned f, grad_y f, hess_y f at whitened queries, and the trust mask."""
        m, d = Y.shape
        start, offsets, axis_w, inside = self._stencil(Y, order, self.params["beta"])
        # T[m, o_1, ..., o_d]: grid values contracted with the o_j-th
        # derivative of the interpolation weights along axis j.
        T = self.grid[start[:, None] + offsets]
        L = axis_w[0].shape[-1]
        for j in reversed(range(d)):
            T = T.reshape(m, L**j, L, -1)
            T = np.einsum("mabc,omb->maoc", T, axis_w[j]).reshape(m, -1)
        T = T.reshape((m,) + (order + 1,) * d)
        zero = (0,) * d
        f = T[(slice(None),) + zero]

        def unit(*axes):
            idx = [0] * d
            for a in axes:
                idx[a] += 1
            return T[(slice(None),) + tuple(idx)]

        grad = np.stack([unit(j) for j in range(d)], axis=1) if order >= 1 else None
        hess = None
        if order >= 2:
            hess = np.empty((m, d, d))
            for i in range(d):
                for j in range(d):
                    hess[:, i, j] = unit(i, j)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_fy = np.log(f)
        ok = inside & (f > 0)
        ok &= log_fy >= np.maximum(self.log_floor, self.log_far[order])
        return f, grad, hess, ok
