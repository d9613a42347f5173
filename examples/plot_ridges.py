"""
Filaments of a road map: density ridges from noisy GPS points
=============================================================

GPS fixes recorded along roads scatter a few metres across them, and a
share of them land anywhere. The roads are the *ridges* of the density of
the fixes: the curves along which it is locally highest across, however it
varies along. :func:`~skdensity.find_ridges` moves points onto them by
subspace-constrained mean shift (Ozertem and Erdogmus, 2011): each step is
the kernel's mean shift, projected onto the directions across the ridge
(the eigenvectors of the Hessian of :math:`\\log f` with the smallest
eigenvalues), so that points travel across the road, never along it.
"""

# %%
# A road-like point cloud
# -----------------------
#
# Three roads: a straight one, a bend that leaves and crosses it, and a
# branch leaving it at a junction; 1 400 fixes scattered 0.1 across the
# roads, and 150 clutter fixes spread over the map (units: say, km).

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection

from skdensity import GaussianKDE, find_ridges

rng = np.random.default_rng(0)


def along(curve, n):
    """n points spread evenly (by arc length) along a polyline, plus noise."""
    step = np.linalg.norm(np.diff(curve, axis=0), axis=1)
    s = np.r_[0, np.cumsum(step)]
    u = rng.uniform(0, s[-1], n)
    points = np.c_[np.interp(u, s, curve[:, 0]), np.interp(u, s, curve[:, 1])]
    return points + rng.normal(0, 0.1, (n, 2))


t = np.linspace(0, 1, 200)
straight = np.c_[-4 + 8 * t, -1 + 2 * t]
angle = np.deg2rad(140 - 100 * t)
bend = np.c_[5 * np.cos(angle), -3.5 + 5 * np.sin(angle)]
branch = np.c_[1 + 1.5 * t + 0.3 * np.sin(3 * t), 0.25 + 3.5 * t]
roads = [straight, bend, branch]
X = np.concatenate(
    [along(straight, 600), along(bend, 500), along(branch, 300)]
    + [rng.uniform([-4.5, -2.5], [4.5, 4.5], (150, 2))]
)

# %%
# The ridges
# ----------
#
# A Gaussian KDE with an isotropic kernel of standard deviation 0.2 (wider
# than the scatter across a road, narrower than the gaps between roads).
# ``find_ridges`` starts from every fix and keeps the end points that
# converged, are a maximum across the ridge (the normal eigenvalue of the
# Hessian of :math:`\log f` is negative) and lie where the density is high.
# The default, the 99% highest density region (as R ks's ``kdr``), still
# holds the clutter's islands here, a tenth of the mass; the 90% region
# leaves them out. ``method="newton"`` reaches the same ridges in fewer
# steps.

kde = GaussianKDE(bandwidth=0.2).fit(X)
ridges = find_ridges(kde, hdr_prob=0.9, random_state=0)
fast = find_ridges(kde, hdr_prob=0.9, method="newton", random_state=0)
print(
    f"{len(ridges.points)} ridge points of {len(X)} starts; "
    f"{np.count_nonzero(ridges.converged & ~ridges.kept)} converged but dropped "
    f"by the filters"
)
print(
    f"iterations per start, scms: mean {ridges.n_iter.mean():.1f}, "
    f"max {ridges.n_iter.max()}; newton: mean {fast.n_iter.mean():.1f}, "
    f"max {fast.n_iter.max()}"
)

# %%
# The map
# -------
#
# Left: the fixes and the 50/90/99% highest density regions of the KDE, with
# the ridge points coloured by their eigenvalue gap (smallest tangent minus
# largest normal eigenvalue of the Hessian of :math:`\log f`): high where a
# road stands out sharply, low at junctions and crossings, where the
# density is high in two directions and the ridge is ill-defined, and at
# the roads' ends. Right: the local direction of each filament,
# ``directions[:, 0]``, drawn as short strokes through every third ridge
# point, over the true roads (grey); crosses mark converged end points that
# the filters dropped.

levels = kde.density_level([0.99, 0.9, 0.5], random_state=0).level
grid = np.meshgrid(np.linspace(-5, 5, 200), np.linspace(-3, 5, 160))
density = np.exp(kde.score_samples(np.c_[grid[0].ravel(), grid[1].ravel()]))
density = density.reshape(grid[0].shape)

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
left.scatter(*X.T, s=2, c="0.7")
left.contour(*grid, density, levels=levels, colors="k", linewidths=0.6)
dots = left.scatter(
    *ridges.points.T, s=4, c=ridges.eigenvalue_gap, cmap="viridis", vmin=0
)
fig.colorbar(dots, ax=left, label="eigenvalue gap (1 / km$^2$)")
left.set_title("ridge points over the 50/90/99% regions")

for road in roads:
    right.plot(*road.T, c="0.75", lw=6, solid_capstyle="round")
every = slice(None, None, 3)
centre = ridges.points[every]
half = 0.12 * ridges.directions[every, 0]
strokes = np.stack([centre - half, centre + half], axis=1)
right.add_collection(LineCollection(strokes, colors="C3", linewidths=1.2))
dropped = ridges.end_points[ridges.converged & ~ridges.kept]
right.scatter(*dropped.T, marker="x", s=12, c="C0", lw=0.8, label="dropped")
right.legend(loc="upper left")
right.set_title("filament directions over the true roads")
for ax in (left, right):
    ax.set_aspect("equal")
    ax.set_xlim(-5, 5)
    ax.set_ylim(-3, 5)
plt.show()
