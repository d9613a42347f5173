"""
Gradient field and modes of a 2-D kernel density estimate
=========================================================

The Old Faithful geyser erupts either briefly after a short wait or long
after a long one: the joint density of eruption duration and waiting time
has two peaks. Here we fit a :class:`~skdensity.GaussianKDE`, draw its
gradient field, climb it to the modes with :func:`~skdensity.find_modes`,
and use the Hessian to find and classify the saddle between them.
"""

# %%
# Fit, and evaluate on a grid
# ---------------------------

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import root

from skdensity import GaussianKDE, find_modes
from skdensity.datasets import load_faithful

X, names = load_faithful()
kde = GaussianKDE(bandwidth="scott").fit(X)

g0, g1 = np.meshgrid(np.linspace(1.2, 5.6, 160), np.linspace(38, 100, 160))
grid = np.column_stack([g0.ravel(), g1.ravel()])
density = np.exp(kde.score_samples(grid)).reshape(g0.shape)

# %%
# The modes
# ---------
#
# :func:`~skdensity.find_modes` ascends :math:`\log f` from every data point
# (the default starts of a KDE), merges the end points and keeps those where
# the Hessian of :math:`\log f` is negative definite.

result = find_modes(kde)
sizes = np.bincount(result.labels[result.labels >= 0], minlength=len(result.modes))
for mode, log_f, eig, size in zip(
    result.modes, result.log_density, result.hessian_eigenvalues, sizes, strict=True
):
    print(
        f"mode at {names[0]}={mode[0]:.3f}, {names[1]}={mode[1]:.2f}: "
        f"log f = {log_f:.4f}, Hessian eigenvalues {np.round(eig, 4)}, "
        f"reached from {size} points"
    )

# %%
# The saddle
# ----------
#
# Every ascent ends at a mode, so the saddle between the two basins has to be
# found another way: solve :math:`\nabla \log f(x) = 0` by Newton's method
# (:func:`scipy.optimize.root` with the Hessian as Jacobian), starting
# halfway between the modes, then read its type off the Hessian eigenvalues:
# one negative (along the ridge), one positive (across it).

saddle = root(
    lambda x: kde.gradient(x[None], log=True)[0],
    result.modes.mean(axis=0),
    jac=lambda x: kde.hessian(x[None], log=True)[0],
).x
saddle_eig = np.linalg.eigvalsh(kde.hessian(saddle[None], log=True)[0])
print(f"saddle at {saddle.round(3)}, Hessian eigenvalues {saddle_eig.round(4)}")

# %%
# The gradient field
# ------------------
#
# The gradient of :math:`\log f` is measured per minute of each variable and
# the two variables have scales ten times apart, so we draw the field of
# mean-shift steps :math:`H \nabla \log f(x)` instead: the move from
# :math:`x` to the weighted mean of the kernels around it, which points
# uphill in the data's own units. Its stream lines are the paths of steepest
# ascent; the one through the saddle splits the plane into the two basins of
# attraction.

a0, a1 = np.meshgrid(np.linspace(1.2, 5.6, 60), np.linspace(38, 100, 60))
steps = kde.gradient(np.column_stack([a0.ravel(), a1.ravel()]), log=True)
steps = (steps @ kde.covariance_).reshape(*a0.shape, 2)

fig, ax = plt.subplots(figsize=(7, 6), layout="constrained")
ax.contourf(g0, g1, density, levels=20, cmap="Blues")
ax.streamplot(
    a0, a1, steps[..., 0], steps[..., 1], color="tab:red", density=1.3,
    linewidth=0.8, arrowsize=0.9,
)  # fmt: skip
ax.scatter(*X.T, s=5, c="0.35", label="eruptions", zorder=2)
ax.scatter(
    *result.modes.T,
    marker="*",
    s=350,
    c="gold",
    edgecolors="k",
    zorder=3,
    label="modes",
)
ax.scatter(
    *saddle, marker="X", s=150, c="tab:purple", edgecolors="k", zorder=3, label="saddle"
)
ax.set(xlabel=f"{names[0]} (min)", ylabel=f"{names[1]} (min)")
ax.set_title("Old Faithful: KDE, ascent directions, modes and saddle")
ax.legend(loc="lower right")
plt.show()

# %%
# Each data point's ascent reaches one of the two modes: its label in
# ``result.labels``. That is mode clustering; see
# :class:`~skdensity.ModeClustering` for the estimator that does it.
