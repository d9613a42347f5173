"""
Modes of a Gaussian mixture are not its means
=============================================

A Gaussian mixture fitted to a skewed cluster spends several overlapping
components on it, yet the cluster has one peak: the mixture has fewer modes
than components, and its modes are not its means.
:class:`~skdensity.GaussianMixtureGrad` is scikit-learn's
:class:`~sklearn.mixture.GaussianMixture` with the gradient and Hessian of
the density, which is what it takes to find the modes and to tell them from
the saddles between them.
"""

# %%
# A skewed cluster and a round one
# --------------------------------
#
# The number of components is chosen by BIC, as usual.

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import root

from skdensity import GaussianMixtureGrad, find_modes

rng = np.random.default_rng(0)
skewed = np.column_stack([rng.lognormal(0, 0.6, 600), rng.normal(0, 0.6, 600)])
skewed[:, 1] += 0.5 * skewed[:, 0]
round_ = rng.normal([5.0, 3.5], 0.5, size=(200, 2))
X = np.vstack([skewed, round_])

fits = [GaussianMixtureGrad(k, random_state=0).fit(X) for k in range(1, 7)]
bic = [gmm.bic(X) for gmm in fits]
gmm = fits[int(np.argmin(bic))]
print(f"BIC chooses {gmm.n_components} components")

# %%
# Modes
# -----
#
# :func:`~skdensity.find_modes` starts from the component means (its default
# for a mixture), climbs :math:`\log f`, and keeps the end points where the
# Hessian of :math:`\log f` is negative definite.

result = find_modes(gmm)
print(f"{len(result.modes)} modes:")
for mode, eig in zip(result.modes, result.hessian_eigenvalues, strict=True):
    nearest = np.linalg.norm(gmm.means_ - mode, axis=1).min()
    print(
        f"  mode {mode.round(3)}: Hessian eigenvalues {eig.round(3)}, "
        f"{nearest:.2f} from the nearest component mean"
    )

# %%
# Every critical point, classified by its Hessian
# -----------------------------------------------
#
# To see the whole landscape we solve :math:`\nabla \log f(x) = 0` by
# Newton's method (:func:`scipy.optimize.root`, the Hessian as Jacobian)
# from a grid of starts, and classify each solution by the signs of the
# eigenvalues of :math:`\nabla^2 \log f` there: all negative, a mode; mixed,
# a saddle; all positive, a minimum.


def grad(x):
    return gmm.gradient(x[None], log=True)[0]


def hess(x):
    return gmm.hessian(x[None], log=True)[0]


lo, hi = X.min(axis=0), X.max(axis=0)
starts = np.stack(
    np.meshgrid(np.linspace(lo[0], hi[0], 9), np.linspace(lo[1], hi[1], 9)), -1
).reshape(-1, 2)
critical = []
for x0 in starts:
    sol = root(grad, x0, jac=hess)
    inside = np.all((sol.x > lo - 1) & (sol.x < hi + 1))
    if (
        sol.success
        and inside
        and all(np.linalg.norm(sol.x - c) > 1e-6 for c in critical)
    ):
        critical.append(sol.x)
critical = np.array(critical)
eigenvalues = np.linalg.eigvalsh(gmm.hessian(critical, log=True))
kind = np.where(
    eigenvalues.max(axis=1) < 0,
    "mode",
    np.where(eigenvalues.min(axis=1) > 0, "minimum", "saddle"),
)
for point, eig, k in zip(critical, eigenvalues, kind, strict=True):
    print(f"{k:8s} at {point.round(3)}, eigenvalues {eig.round(3)}")

# %%
# The picture
# -----------

g0, g1 = np.meshgrid(
    np.linspace(lo[0] - 0.5, hi[0] + 0.5, 200), np.linspace(-2, 6, 200)
)
log_f = gmm.score_samples(np.column_stack([g0.ravel(), g1.ravel()])).reshape(g0.shape)

fig, (ax_bic, ax) = plt.subplots(
    1, 2, figsize=(12, 5), width_ratios=[1, 2.2], layout="constrained"
)
ax_bic.plot(range(1, 7), bic, "o-")
ax_bic.set(xlabel="components", ylabel="BIC", title="Choosing the number of components")

ax.contourf(g0, g1, np.exp(log_f), levels=20, cmap="Blues")
# The 50/90/99% highest density regions of the mixture.
regions = gmm.density_level([0.99, 0.9, 0.5], random_state=0)
lines = ax.contour(
    g0, g1, np.exp(log_f), levels=regions.level, colors="k", linewidths=0.8
)
ax.clabel(lines, fmt=dict(zip(regions.level, ["99%", "90%", "50%"], strict=True)))
ax.scatter(*X.T, s=3, c="0.5")
style = {
    "mode": {"marker": "*", "s": 350, "c": "gold"},
    "saddle": {"marker": "X", "s": 150, "c": "tab:purple"},
    "minimum": {"marker": "o", "s": 100, "c": "tab:red"},
}
for name, kwargs in style.items():
    points = critical[kind == name]
    if len(points):
        ax.scatter(*points.T, edgecolors="k", zorder=3, label=f"{name}s", **kwargs)
ax.scatter(
    *gmm.means_.T, marker="P", s=90, c="tab:green", edgecolors="k", zorder=4,
    label="component means",
)  # fmt: skip
ax.set(xlim=(g0.min(), g0.max()), ylim=(-2, 6), xlabel="x0", ylabel="x1")
ax.set_title(f"GaussianMixtureGrad({gmm.n_components}): means, modes and saddles")
ax.legend(loc="upper left")
plt.show()

# %%
# The skewed cluster gets two components but has one mode. It lies close to
# the mean of the narrow component in the cluster's dense corner, not on it;
# the other component's mean sits on the slope of the tail and is no peak at
# all. A saddle separates the basins of the two clusters. ``find_modes``
# reports only points whose Hessian is negative definite as modes.
