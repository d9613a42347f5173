"""
ModeClustering versus MeanShift on clusters of unequal shape
============================================================

Both algorithms cluster points by the mode of a density they climb to.
:class:`sklearn.cluster.MeanShift` uses a flat kernel of one radius for every
direction, then labels each point by its *nearest* cluster centre.
:class:`~skdensity.ModeClustering` climbs a Gaussian KDE (with a bandwidth
matrix that follows the data covariance by default) and labels each point
by the mode its own ascent reaches: its *basin of attraction*. On clusters
of unequal size and shape the difference shows.
"""

# %%
# Three clusters: a wide elongated one and two tight ones
# -------------------------------------------------------

import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import MeanShift, estimate_bandwidth
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from skdensity import ModeClustering

X, truth = make_blobs(
    n_samples=[300, 150, 150],
    centers=[[0, 0], [5, 4], [6, -1]],
    cluster_std=[1.6, 0.4, 0.6],
    random_state=0,
)
X[truth == 0] = X[truth == 0] @ np.array([[1.0, 0.0], [1.2, 0.5]])

# %%
# Fit both
# --------
#
# MeanShift gets the bandwidth scikit-learn's own helper estimates;
# ModeClustering gets its defaults (a Scott-rule :class:`~skdensity.GaussianKDE`).

mean_shift = MeanShift(bandwidth=estimate_bandwidth(X, random_state=0)).fit(X)
modes = ModeClustering().fit(X)

for name, model in [("MeanShift", mean_shift), ("ModeClustering", modes)]:
    print(
        f"{name:15s} {len(model.cluster_centers_)} clusters, adjusted Rand index "
        f"{adjusted_rand_score(truth, model.labels_):.3f}"
    )

# %%
# Where they differ
# -----------------
#
# MeanShift's nearest-centre rule hands the far end of the elongated cluster
# to the nearer tight cluster. ModeClustering follows the density uphill, so
# a point belongs to the cluster whose mode its ascent reaches, however far
# that mode is.

# To compare the pictures, each found cluster is coloured like the true
# cluster most of its points come from.


def matched(labels):
    """Each label replaced by the true cluster most of its points belong to."""
    lookup = {c: np.bincount(truth[labels == c]).argmax() for c in np.unique(labels)}
    return np.array([lookup[c] for c in labels])


fig, axes = plt.subplots(1, 3, figsize=(14, 4.5), sharex=True, sharey=True)
panels = [
    ("truth", truth, None),
    ("MeanShift (nearest centre)", mean_shift.labels_, mean_shift.cluster_centers_),
    ("ModeClustering (basin of attraction)", modes.labels_, modes.cluster_centers_),
]
for ax, (title, labels, centres) in zip(axes, panels, strict=True):
    ax.scatter(*X.T, c=matched(labels), cmap="tab10", vmin=0, vmax=9, s=8)
    if centres is not None:
        ax.scatter(*centres.T, marker="*", s=300, c="gold", edgecolors="k")
        title += f"\nARI {adjusted_rand_score(truth, labels):.3f}"
    ax.set_title(title)
    ax.set_aspect("equal")
fig.tight_layout()
plt.show()

# %%
# ``predict`` follows the same rule for new points: it ascends from each one
# and returns the cluster of the mode it reaches. The point (4, 1.5), at the
# far end of the elongated cluster, belongs to it, though the top cluster's
# centre is nearer.

names = np.array(["elongated", "top", "bottom right"])
new_points = np.array([[-3.0, -4.0], [4.0, 1.5], [6.5, -0.5]])
for name, model in [("MeanShift", mean_shift), ("ModeClustering", modes)]:
    lookup = matched(model.labels_)
    as_truth = [lookup[model.labels_ == c][0] for c in model.predict(new_points)]
    print(f"{name:15s} predicts {names[as_truth].tolist()} for {new_points.tolist()}")
