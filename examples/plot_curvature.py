"""
Curvature of a density: closed-form Hessian versus ``np.gradient`` twice
========================================================================

The Hessian of a density tells where it is peaked (negative curvature in
every direction), where it is a ridge or a saddle (mixed signs) and where it
is hollow. The usual shortcut evaluates the density on a grid and applies
:func:`numpy.gradient` twice. That only works on a grid, and it carries a
discretisation error: second order in the spacing inside, first order on the
edges, largest where the density is sharply curved. skdensity gives the exact
Hessian at any point. Here we compare the two on a kernel density estimate of
the Old Faithful eruptions.
"""

# %%
# Exact Laplacian and principal curvatures
# ----------------------------------------
#
# The Laplacian :math:`\Delta f = \operatorname{tr} \nabla^2 f` comes from
# ``hessian(X)``; the principal curvatures of the log-density are the
# eigenvalues of ``hessian(X, log=True)``. Inside the black lines both are
# negative and the log-density is locally concave; in the band between the
# two clusters of eruptions it is not, and that is where a Newton step would
# head for the saddle instead of a mode.

import matplotlib.pyplot as plt
import numpy as np

from skdensity import GaussianKDE
from skdensity.datasets import load_faithful

X, names = load_faithful()
kde = GaussianKDE(bandwidth="scott").fit(X)
lo, hi = np.array([1.2, 38.0]), np.array([5.6, 100.0])


def grid(n):
    """An n x n grid over the data, its points, and the spacings."""
    axes = [np.linspace(lo[j], hi[j], n) for j in range(2)]
    g0, g1 = np.meshgrid(*axes, indexing="ij")
    spacing = [a[1] - a[0] for a in axes]
    return g0, g1, np.column_stack([g0.ravel(), g1.ravel()]), spacing


g0, g1, points, _ = grid(150)
laplacian = np.trace(kde.hessian(points), axis1=1, axis2=2).reshape(g0.shape)
curvatures = np.linalg.eigvalsh(kde.hessian(points, log=True))
concave = (curvatures[:, -1] < 0).reshape(g0.shape)


# %%
# The grid method
# ---------------
#
# ``np.gradient`` uses central differences inside and one-sided differences
# on the edges; applying it twice gives every second derivative.


def grid_laplacian(n):
    g0, g1, points, (d0, d1) = grid(n)
    f = np.exp(kde.score_samples(points)).reshape(g0.shape)
    f0, f1 = np.gradient(f, d0, d1)
    return np.gradient(f0, d0, axis=0) + np.gradient(f1, d1, axis=1), points


coarse = 30
approx, coarse_points = grid_laplacian(coarse)
exact_coarse = np.trace(kde.hessian(coarse_points), axis1=1, axis2=2)
exact_coarse = exact_coarse.reshape(approx.shape)
scale = np.abs(laplacian).max()

fig, axes = plt.subplots(1, 3, figsize=(13, 4), layout="constrained")
limits = dict(vmin=-scale, vmax=scale, cmap="RdBu_r")
axes[0].pcolormesh(g0, g1, laplacian, **limits)
axes[0].contour(g0, g1, concave, levels=[0.5], colors="k", linewidths=1)
axes[0].set_title("exact Laplacian (black: log f concave)")
c0, c1, _, _ = grid(coarse)
mesh = axes[1].pcolormesh(c0, c1, approx, **limits)
axes[1].set_title(f"np.gradient twice, {coarse} x {coarse} grid")
fig.colorbar(mesh, ax=axes[:2], label="Laplacian of f")
err = axes[2].pcolormesh(
    c0, c1, np.abs(approx - exact_coarse) / scale, cmap="magma", vmin=0
)
axes[2].set_title("|grid - exact| / max |exact|")
fig.colorbar(err, ax=axes[2])
for ax in axes:
    ax.scatter(*X.T, s=2, c="0.5")
    ax.set(xlabel=names[0], ylabel=names[1])
plt.show()

# %%
# Inside the grid the error is largest where the density is most sharply
# curved, at the peaks of the two clusters. On the edges ``np.gradient`` falls
# back to one-sided differences, and differencing those again leaves an error
# that does not shrink with the spacing at all.
#
# How the error shrinks with the grid
# -----------------------------------
#
# Refining the grid reduces the error, at quadratic cost in points (and the
# grid method cannot give the curvature at a point off the grid at all).
# The exact values need no grid.

sizes = [20, 30, 45, 70, 100, 150, 220]
interior, edge = [], []
for n in sizes:
    approx, pts = grid_laplacian(n)
    exact = np.trace(kde.hessian(pts), axis1=1, axis2=2).reshape(approx.shape)
    error = np.abs(approx - exact) / scale
    interior.append(error[2:-2, 2:-2].max())
    edge.append(max(error[[0, -1], :].max(), error[:, [0, -1]].max()))

spacing = (hi[0] - lo[0]) / (np.array(sizes) - 1)
fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
ax.loglog(spacing, interior, "o-", label="interior")
ax.loglog(spacing, edge, "s-", label="edges")
ax.loglog(spacing, interior[-1] * (spacing / spacing[-1]) ** 2, "k:", label="slope 2")
ax.set(
    xlabel=f"grid spacing in {names[0]}",
    ylabel="max relative error of the Laplacian",
    title="np.gradient twice: discretisation error",
)
ax.xaxis.set_minor_formatter(plt.NullFormatter())
ax.legend()
plt.show()

for n, e_in, e_edge in zip(sizes, interior, edge, strict=True):
    print(f"{n:4d} x {n:<4d} grid: interior error {e_in:.1e}, edge error {e_edge:.1e}")

# %%
# Principal curvatures on the grid
# --------------------------------
#
# The same applies to the full Hessian. Differencing :math:`\log f` twice on
# the coarse grid and taking eigenvalues, the grid method misjudges where
# :math:`\log f` is concave (largest eigenvalue below zero) along the
# boundary of that region and on the edges of the grid.


def grid_hessian(values, d0, d1):
    v0, v1 = np.gradient(values, d0, d1)
    h00, h01 = np.gradient(v0, d0, d1)
    h10, h11 = np.gradient(v1, d0, d1)
    cross = (h01 + h10) / 2
    return np.stack([np.stack([h00, cross], -1), np.stack([cross, h11], -1)], -2)


c0, c1, coarse_points, (d0, d1) = grid(coarse)
log_f_grid = kde.score_samples(coarse_points).reshape(c0.shape)
top_grid = np.linalg.eigvalsh(grid_hessian(log_f_grid, d0, d1))[..., -1]
top_exact = np.linalg.eigvalsh(kde.hessian(coarse_points, log=True))[:, -1]
top_exact = top_exact.reshape(c0.shape)
wrong = (top_grid < 0) != (top_exact < 0)
inner = wrong[2:-2, 2:-2]  # beyond the reach of the one-sided edge differences
print(
    f"{coarse} x {coarse} grid: concavity misjudged at {wrong.sum()} of "
    f"{wrong.size} points, {inner.sum()} of {inner.size} away from the edges"
)

fig, ax = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
ax.pcolormesh(c0, c1, top_exact < 0, cmap="Greys", vmin=0, vmax=3)
ax.scatter(c0[wrong], c1[wrong], marker="s", s=25, c="tab:red", label="misjudged")
ax.scatter(*X.T, s=2, c="tab:blue")
ax.set(xlabel=names[0], ylabel=names[1])
ax.set_title("grey: log f concave (exact Hessian)", fontsize=10)
ax.legend(loc="lower right")
plt.show()
