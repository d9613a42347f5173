"""
Highest density regions and a conditional density
=================================================

A Gaussian mixture gives more than its density in closed form: its
marginals and conditionals are Gaussian mixtures again, and the probability
of a box is a sum of normal CDFs. Here a :class:`~skdensity.GaussianKDE` of
Old Faithful (eruption duration, waiting time to the next eruption) shows

* its 50%, 90% and 99% highest density regions, the contours
  :meth:`~skdensity.GaussianKDE.density_level` finds (R ks's contour levels);
* the density of the waiting time given an eruption of 2.8 minutes,
  :meth:`~skdensity.GaussianKDE.conditional`, a KDE of one feature, and its
  modes by :func:`~skdensity.find_modes`;
* the conditional mean waiting time as the duration varies,
  :meth:`~skdensity.GaussianKDE.conditional_mean`, and a box probability,
  :meth:`~skdensity.GaussianKDE.integrate_box`.
"""

# %%
# Fit, and the levels of the highest density regions
# ---------------------------------------------------
#
# The region :math:`\{x: f(x) \ge c\}` holding probability :math:`p` has
# :math:`c` the :math:`(1 - p)`-quantile of :math:`f(X)`, :math:`X \sim f`:
# estimated from draws of the density, with its Monte Carlo error. The
# regions hold more of the data than their probability: the KDE spreads the
# data by its bandwidth.

import matplotlib.pyplot as plt
import numpy as np

from skdensity import GaussianKDE, find_modes
from skdensity.datasets import load_faithful

X, names = load_faithful()
kde = GaussianKDE(bandwidth="scott").fit(X)

regions = kde.density_level([0.99, 0.9, 0.5], random_state=0)
inside = np.exp(kde.score_samples(X))[:, None] >= regions.level
for p, c, sd, share in zip(
    regions.prob, regions.level, regions.level_std, inside.mean(axis=0), strict=True
):
    print(
        f"{p:.0%} region: f >= {c:.5f} (Monte Carlo error {sd:.1e}); "
        f"it holds {share:.1%} of the data"
    )

# %%
# A conditional density and its modes
# -----------------------------------
#
# Given ``eruptions = 2.8``, between the two clusters, the waiting time has
# the density :math:`f(2.8, y) / f_1(2.8)`: a KDE whose kernels are shifted
# along the kernel covariance's slope and reweighted by how close each
# eruption was to 2.8 minutes. Bayes' rule, evaluated pointwise, agrees with
# it. It has two modes: a short or a long wait.

duration = 2.8
given = kde.conditional([0], [duration])
waiting = np.linspace(38, 100, 400)[:, None]
conditional_density = np.exp(given.score_samples(waiting))

joint = kde.score_samples(np.column_stack([np.full(len(waiting), duration), waiting]))
bayes = np.exp(joint - kde.marginal([0]).score_samples([[duration]]))
difference = np.abs(conditional_density - bayes).max()
print(f"largest difference from Bayes' rule: {difference:.1e}")

modes = find_modes(given)
print(
    f"modes of the waiting time given {duration} minutes:", modes.modes.ravel().round(1)
)

# %%
# The conditional mean, and a box probability
# -------------------------------------------

durations = np.linspace(1.6, 5.2, 60)[:, None]
mean_wait = kde.conditional_mean([0], durations)[:, 0]
sd_wait = np.sqrt(kde.conditional_covariance([0], durations)[:, 0, 0])

p_long = kde.integrate_box([3.5, 70.0], [np.inf, np.inf])
print(f"P(eruption > 3.5 min and wait > 70 min) = {p_long:.3f}")

# %%
# The picture
# -----------

g0, g1 = np.meshgrid(np.linspace(1.2, 5.6, 160), np.linspace(38, 100, 160))
density = np.exp(kde.score_samples(np.column_stack([g0.ravel(), g1.ravel()])))
density = density.reshape(g0.shape)

fig, (ax, ax_slice) = plt.subplots(
    1, 2, figsize=(11, 4.6), layout="constrained", width_ratios=[1.4, 1]
)
ax.contourf(g0, g1, density, levels=20, cmap="Blues")
contours = ax.contour(
    g0, g1, density, levels=regions.level, colors="k", linewidths=[0.8, 1.2, 1.6]
)
ax.clabel(contours, fmt=dict(zip(regions.level, ["99%", "90%", "50%"], strict=True)))
ax.scatter(*X.T, s=5, c="0.35")
ax.plot(
    durations[:, 0], mean_wait, c="tab:orange", lw=2, label="E[waiting | eruptions]"
)
ax.fill_between(
    durations[:, 0], mean_wait - sd_wait, mean_wait + sd_wait, color="tab:orange",
    alpha=0.2, label="± 1 conditional sd",
)  # fmt: skip
ax.axvline(duration, c="tab:red", ls="--", lw=1)
ax.set_xlabel(names[0])
ax.set_ylabel(names[1])
ax.set_title("Highest density regions (50/90/99%) of the KDE")
ax.legend(loc="upper left", fontsize=8)

ax_slice.plot(waiting[:, 0], conditional_density, c="tab:red", label="conditional KDE")
ax_slice.plot(waiting[:, 0], bayes, "k:", lw=2, label="Bayes: f(2.8, y) / f(2.8)")
peaks = np.exp(modes.log_density)
ax_slice.plot(modes.modes[:, 0], peaks, "kv", label="modes (find_modes)")
for mode, peak in zip(modes.modes[:, 0], peaks, strict=True):
    ax_slice.annotate(
        f"{mode:.1f}", (mode, peak), xytext=(0, 8), textcoords="offset points",
        ha="center",
    )  # fmt: skip
ax_slice.set_ylim(0, 1.15 * peaks.max())
ax_slice.set_xlabel(f"{names[1]} given {names[0]} = {duration:g}")
ax_slice.set_ylabel("density")
ax_slice.set_title("Conditional density and its modes")
ax_slice.legend(fontsize=8)
plt.show()
