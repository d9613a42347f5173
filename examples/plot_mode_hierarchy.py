"""
The mode hierarchy: which modes of Old Faithful matter
=======================================================

A density estimate has as many modes as its kernel is narrow, and
:class:`~skdensity.ModeClustering` makes a cluster of each. Which of them
are structure, and which are bumps of the sample? The modes' *merge tree*
tells: lower a level :math:`c` from the highest mode and watch the region
where :math:`\\log f \\ge c` grow from islands around the modes; two
islands join at a saddle of the density. At each join the island with the
lower top ends, and its *prominence* is how far its top stands above that
saddle, in :math:`\\log f`. ``ModeClustering`` finds the saddles between
neighbouring modes and keeps the tree in ``hierarchy_``;
``min_prominence`` merges the modes that stand less than that above their
saddle.
"""

# %%
# Three modes with R's bandwidth, one of them barely a mode
# ---------------------------------------------------------
#
# R's ``ks::kms`` climbs a KDE with the plug-in bandwidth for the density
# gradient, and finds three modes on Old Faithful (eruption length in
# minutes, waiting time to the next eruption). So does ``ModeClustering``
# with the same bandwidth (``min_cluster_size=1`` keeps every mode). The
# hierarchy shows that the third mode rises only 0.01 above its saddle in
# :math:`\log f`: the density at the saddle is 99% of the density at that
# mode.

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from scipy.cluster.hierarchy import dendrogram

from skdensity import GaussianKDE, ModeClustering
from skdensity.datasets import load_faithful

X, names = load_faithful()
plugin = GaussianKDE("plugin", deriv_order=1).fit(X)
clustering = ModeClustering(plugin, min_cluster_size=1).fit(X)
hierarchy = clustering.hierarchy_
for mode, log_f, prominence, n in zip(
    hierarchy.modes,
    hierarchy.log_density,
    hierarchy.prominence,
    hierarchy.n_points,
    strict=True,
):
    print(
        f"mode at {mode.round(2)}: log f {log_f:.2f}, prominence "
        f"{prominence:.3f}, {n} eruptions"
    )

# %%
# A narrower kernel: more modes, and their tree
# ---------------------------------------------
#
# With half the plug-in kernel covariance the density has seven modes.
# ``hierarchy_`` keeps every mode found, whatever merging follows; here
# ``min_prominence=0.5`` merges the modes that stand less than 0.5 above
# their saddle into the cluster of the higher mode their island joins.
#
# The map shows the modes (stars, numbered by decreasing density) and, for
# each join of the tree, the saddle (cross) with dashed lines to the two
# modes whose basins meet there; the points are coloured by merged cluster.
# The dendrogram draws ``hierarchy_.linkage`` with
# :func:`scipy.cluster.hierarchy.dendrogram`: each join at the depth of its
# saddle below the highest mode, in :math:`\log f`. A dot marks each mode at
# its own depth, so the stretch of a leaf from its dot up to its join is
# the mode's prominence.

clustering = ModeClustering(
    GaussianKDE(plugin.covariance_ / 2), min_cluster_size=1, min_prominence=0.5
).fit(X)
tree = clustering.hierarchy_
print(
    f"{len(tree.modes)} modes, {len(clustering.cluster_centers_)} clusters with "
    f"min_prominence=0.5 ({clustering.n_merged_clusters_} merged); "
    f"prominence {tree.prominence.round(2)}"
)

grid_x = np.linspace(1.2, 5.6, 150)
grid_y = np.linspace(40, 100, 150)
gx, gy = np.meshgrid(grid_x, grid_y)
log_f = clustering.density_.score_samples(np.column_stack([gx.ravel(), gy.ravel()]))
log_f = log_f.reshape(gx.shape)

fig, (ax_map, ax_tree) = plt.subplots(
    1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [1.3, 1]}
)
levels = np.linspace(tree.log_density[0] - 6, tree.log_density[0], 13)
ax_map.contourf(gx, gy, log_f, levels=levels, cmap="Greys", alpha=0.8)
ax_map.scatter(*X.T, c=clustering.labels_, cmap="tab10", vmin=0, vmax=9, s=10)
for (a, b), saddle in zip(tree.saddle_modes, tree.saddle_points, strict=True):
    for end in (a, b):
        ax_map.plot(*np.column_stack([saddle, tree.modes[end]]), "k--", lw=0.8)
ax_map.scatter(
    *tree.saddle_points.T, marker="X", s=90, c="w", edgecolors="k", label="saddle"
)
ax_map.scatter(*tree.modes.T, marker="*", s=260, c="gold", edgecolors="k", label="mode")
outline = [patheffects.withStroke(linewidth=3, foreground="w")]
for i, mode in enumerate(tree.modes):
    ax_map.annotate(
        str(i), mode, xytext=(8, 6), textcoords="offset points", fontsize=12,
        fontweight="bold", path_effects=outline,
    )  # fmt: skip
ax_map.set(xlabel=names[0], ylabel=names[1], title="modes, saddles and clusters")
ax_map.legend(loc="upper left")

drawn = dendrogram(
    tree.linkage, ax=ax_tree, color_threshold=0, above_threshold_color="k"
)
leaf_x = 5 + 10 * np.arange(len(tree.modes))  # where scipy draws the leaves
depth = tree.log_density[0] - tree.log_density[drawn["leaves"]]
ax_tree.scatter(leaf_x, depth, s=60, c="gold", edgecolors="k", zorder=3)
prominence = [f"{tree.prominence[i]:.2f}" for i in drawn["leaves"]]
ax_tree.set_xticklabels(
    [
        f"{i}\n{p}" if p != "inf" else f"{i}\ntop"
        for i, p in zip(drawn["leaves"], prominence, strict=True)
    ]
)
ax_tree.set(
    xlabel="mode, and its prominence",
    ylabel="depth below the highest mode (log f)",
    title="merge tree",
)
fig.tight_layout()
plt.show()

# %%
# Only mode 2, the short eruptions, stands well above its saddle (by 2.7,
# a factor :math:`e^{2.7} \approx 15` in density); the five others are
# within 0.15 of theirs, bumps of a kernel half as wide as the plug-in one.
#
# ``min_cluster_size`` is the other way to drop small modes: by default
# clusters of at most 1% of the points are merged (``ks::kms``'s rule),
# each into the neighbour across its highest saddle. It counts the points
# that reached a mode, not the depth of the valley around it: a tall,
# narrow peak of a few points goes, a broad shallow bump of many stays.
# Prominence looks at the density alone.
