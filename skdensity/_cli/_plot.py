"""Pictures for the command-line tool's ``--plot`` (matplotlib; 1 or 2 columns).

Each command gets the picture a practitioner expects, over the density
drawn the same way: in 2-D, its highest density regions filled at
probability levels (``density_level``; the 50/90/99% contours labelled), in
1-D, the density curve with those regions shaded. Many points are drawn
small and translucent so they never hide the density; clusters get distinct
colours however many there are, and a legend of the largest; gradient
fields are streamlines.
"""

import textwrap

import numpy as np

from ._errors import InputError

#: Probabilities of the highest density regions filled (2-D) or shaded (1-D).
FILLED_PROBS = (0.99, 0.9, 0.75, 0.5, 0.25)
#: The regions whose contours are labelled.
LABELLED_PROBS = (0.99, 0.9, 0.5)
#: Clusters named in the legend.
_LEGEND_CLUSTERS = 10
_GRID = 160


def _matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise InputError(
            "--plot needs matplotlib: pip install 'skdensity[cli]'."
        ) from None
    return matplotlib


def check_plot_format(path):
    """Raise unless matplotlib can write the picture's file type."""
    from matplotlib.figure import Figure

    _matplotlib()
    supported = Figure().canvas.get_supported_filetypes()
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if suffix not in supported:
        raise InputError(
            f"--plot {path!r}: give a file name ending in one of "
            f"{', '.join('.' + s for s in sorted(supported))} (e.g. .png)."
        )


def check_plottable(X, command):
    """Raise unless ``X`` has one or two columns (and matplotlib is there)."""
    _matplotlib()
    if X.shape[1] not in (1, 2):
        raise InputError(
            f"--plot draws 1 or 2 columns; there are {X.shape[1]}. Choose one or "
            f"two with --columns."
        )


def plot(path, args, table, result):
    """Draw the picture of ``args.command`` into ``path`` (a temporary file
    whose type is that of ``args.plot``)."""
    _matplotlib().use("Agg", force=False)
    import matplotlib.pyplot as plt

    estimator, X = result["estimator"], table.X
    fig, ax = plt.subplots(figsize=(7, 5.5), layout="constrained")
    try:
        if X.shape[1] == 1:
            _plot_1d(fig, ax, args.command, estimator, X, table.names, result)
        else:
            _plot_2d(fig, ax, args.command, estimator, X, table.names, result)
        from ._commands import describe

        title = f"skdensity {args.command}: {describe(estimator)} on {args.source}"
        ax.set_title("\n".join(textwrap.wrap(title, 70)), fontsize=9)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=8, framealpha=0.85)
        fig.savefig(path, dpi=120, format=args.plot.rsplit(".", 1)[-1].lower())
    finally:
        plt.close(fig)


# ---------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------


def _extent(estimator, arrays):
    """A box around every point drawn plus three kernel (component) scales."""
    points = np.vstack([a for a in arrays if a is not None and len(a)])
    scale = np.sqrt(np.diag(estimator.scale_covariance()))
    return points.min(axis=0) - 3 * scale, points.max(axis=0) + 3 * scale


def _levels(estimator):
    """Density levels of the regions of ``FILLED_PROBS`` (increasing)."""
    return estimator.density_level(list(FILLED_PROBS), random_state=0).level


def _point_style(n):
    """Small translucent points for many rows, so the density shows through."""
    alpha = float(np.clip(1000 / n, 0.15, 0.8))
    size = float(np.clip(3000 / n, 2, 12))
    return {"s": size, "alpha": alpha, "linewidths": 0, "rasterized": n > 5000}


def cluster_colours(labels):
    """One colour per cluster, none repeated: tab10, tab20, then an even
    walk around a perceptually ordered map with neighbours far apart."""
    import matplotlib as mpl

    k = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
    if k <= 10:
        colours = mpl.colormaps["tab10"].colors[:k]
    elif k <= 20:
        colours = mpl.colormaps["tab20"].colors[:k]
    else:
        order = (np.arange(k) * 0.381966) % 1.0  # golden-ratio steps
        colours = mpl.colormaps["turbo"](0.05 + 0.9 * order)
    return np.asarray(colours, dtype=float).reshape(k, -1)[:, :3]


# ---------------------------------------------------------------------------
# Two columns
# ---------------------------------------------------------------------------


def _plot_2d(fig, ax, command, estimator, X, names, result):
    extra = [result.get(k) for k in ("samples", "queries", "modes", "ridges")]
    lo, hi = _extent(estimator, [X, *extra])
    g0, g1 = np.meshgrid(
        np.linspace(lo[0], hi[0], _GRID), np.linspace(lo[1], hi[1], _GRID)
    )
    grid = np.column_stack([g0.ravel(), g1.ravel()])
    density = np.exp(estimator.score_samples(grid)).reshape(g0.shape)
    levels = _levels(estimator)
    top = max(density.max(), levels[-1]) * 1.001
    # Clusters bring their own colours: the density stays grey under them.
    cmap, alpha = ("Greys", 0.5) if command == "cluster" else ("Blues", 0.85)
    ax.contourf(
        g0, g1, density, levels=[*levels, top], cmap=cmap, alpha=alpha, zorder=0
    )
    lines = ax.contour(
        g0, g1, density, levels=levels, colors="0.25", linewidths=0.6, zorder=1
    )
    labelled = {lev: f"{p:.0%}" for lev, p in zip(levels, FILLED_PROBS, strict=True)}
    ax.clabel(
        lines,
        levels=[lev for lev, p in zip(levels, FILLED_PROBS, strict=True)
                if p in LABELLED_PROBS],
        fmt=labelled,
        fontsize=7,
    )  # fmt: skip
    n = len(X)
    if command == "grad":
        _draw_gradient_field(ax, estimator, g0, g1, lo, hi, levels[0] / 20)
        queries = result["queries"]
        if queries is not X:
            ax.scatter(*queries.T, s=14, c="tab:red", label="--at points", zorder=3)
        else:
            ax.scatter(*X.T, c="k", **_point_style(n), label="data", zorder=2)
    elif command == "score":
        Q = result["queries"]
        style = _point_style(len(Q)) | {"alpha": 0.9}
        points = ax.scatter(*Q.T, c=result["values"], cmap="viridis", **style, zorder=2)
        fig.colorbar(points, ax=ax, label="log-density at the point", shrink=0.8)
    elif command == "sample":
        samples = result["samples"]
        ax.scatter(
            *samples.T, c="tab:orange", **_point_style(len(samples)),
            label=f"{len(samples)} samples", zorder=2,
        )  # fmt: skip
        ax.scatter(*X.T, c="k", **_point_style(n), label="data", zorder=3)
    elif command == "ridges":
        ax.scatter(*X.T, c="0.3", **_point_style(n) | {"alpha": 0.25}, label="data")
        ridges = result["ridges"]
        ax.scatter(
            *ridges.T, s=12, c="tab:red", edgecolors="white", linewidths=0.4,
            label="ridge points",
            zorder=4, rasterized=len(ridges) > 5000,
        )  # fmt: skip
    elif command == "cluster":
        _draw_clusters(ax, X, result["labels"])
        _draw_modes(ax, result["modes"])
    elif command == "modes":
        ax.scatter(*X.T, c="k", **_point_style(n), label="data", zorder=2)
        _draw_modes(ax, result["modes"])
        if len(result["saddles"]):
            ax.scatter(
                *result["saddles"].T, marker="X", s=110, c="tab:orange",
                edgecolors="k", label="saddle / flat points", zorder=4,
            )  # fmt: skip
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.text(
        0.99, 0.01, "shading: highest density regions (label: probability inside)",
        transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.3",
    )  # fmt: skip


def _draw_gradient_field(ax, estimator, g0, g1, lo, hi, floor):
    """Streamlines of grad log f where the density exceeds ``floor``, drawn
    as steepest ascent on the page.

    A gradient ``g`` is per unit of each column; with the axes scaled to the
    spans ``s``, steepest ascent on the page is ``g * s**2`` in data units.
    """
    step = 2  # streamplot interpolates; a coarser grid suffices
    sub0, sub1 = g0[::step, ::step], g1[::step, ::step]
    points = np.column_stack([sub0.ravel(), sub1.ravel()])
    grad = estimator.gradient(points, log=True)
    span2 = (hi - lo) ** 2
    outside = (estimator.score_samples(points) < np.log(floor)).reshape(sub0.shape)
    u = np.ma.array((grad[:, 0] * span2[0]).reshape(sub0.shape), mask=outside)
    v = np.ma.array((grad[:, 1] * span2[1]).reshape(sub0.shape), mask=outside)
    ax.streamplot(
        sub0[0], sub1[:, 0], u, v, color="tab:red", density=1.4, linewidth=0.7,
        arrowsize=0.8, zorder=2,
    )  # fmt: skip
    ax.plot([], [], color="tab:red", label="gradient of log f (uphill)")


def _draw_clusters(ax, X, labels):
    k = int(labels.max()) + 1 if labels.size else 0
    colours = cluster_colours(labels)
    n = len(X)
    style = _point_style(n) | {"alpha": float(np.clip(2000 / n, 0.3, 0.9))}
    none = labels < 0
    if none.any():
        ax.scatter(*X[none].T, c="0.5", **style, label=f"no mode ({none.sum()})")
    sizes = np.bincount(labels[~none], minlength=k)
    ax.scatter(*X[~none].T, c=colours[labels[~none]], **style, zorder=2)
    for j in np.argsort(-sizes, kind="stable")[:_LEGEND_CLUSTERS]:
        ax.scatter([], [], color=colours[j], s=25, label=f"cluster {j} ({sizes[j]})")
    if k > _LEGEND_CLUSTERS:
        ax.scatter([], [], color="none", label=f"... {k} clusters in all")


def _draw_modes(ax, modes):
    ax.scatter(
        *modes.T, marker="*", s=220, c="tab:red", edgecolors="k", linewidths=0.8,
        label="modes", zorder=5,
    )  # fmt: skip
    if len(modes) <= 30:
        for i, mode in enumerate(modes):
            ax.annotate(
                str(i), mode, xytext=(6, 6), textcoords="offset points", fontsize=8,
                zorder=6,
            )  # fmt: skip


# ---------------------------------------------------------------------------
# One column
# ---------------------------------------------------------------------------


def _plot_1d(fig, ax, command, estimator, X, names, result):
    extra = [result.get("samples"), result.get("queries"), result.get("modes")]
    lo, hi = _extent(estimator, [X, *extra])
    x = np.linspace(lo[0], hi[0], 1000)
    density = np.exp(estimator.score_samples(x[:, None]))
    ax.plot(x, density, color="tab:blue", lw=1.5, label="density f", zorder=3)
    for level, p in zip(_levels(estimator), FILLED_PROBS, strict=True):
        ax.fill_between(
            x, 0, density, where=density >= level, color="tab:blue", alpha=0.12,
            linewidth=0, zorder=1,
        )  # fmt: skip
        if p in LABELLED_PROBS:
            ax.axhline(level, color="0.5", lw=0.5, ls=":", zorder=1)
            ax.annotate(
                f"{p:.0%}", (hi[0], level), xytext=(-2, 2), textcoords="offset points",
                ha="right", fontsize=7, color="0.35",
            )  # fmt: skip
    top = density.max()
    rug = {"marker": "|", "s": 60, "linewidths": 0.8, "zorder": 2}
    rug_y = np.full(len(X), -0.04 * top)
    alpha = float(np.clip(300 / len(X), 0.05, 0.8))
    if command == "cluster":
        colours = cluster_colours(result["labels"])
        labels = result["labels"]
        c = np.where(labels[:, None] >= 0, colours[np.maximum(labels, 0)], 0.5)
        ax.scatter(X[:, 0], rug_y, c=c, alpha=alpha, **rug)
        for j in range(min(len(colours), _LEGEND_CLUSTERS)):
            ax.scatter([], [], color=colours[j], marker="s", label=f"cluster {j}")
    else:
        ax.scatter(X[:, 0], rug_y, c="k", alpha=alpha, label="data", **rug)
    if command in ("modes", "cluster"):
        modes = result["modes"][:, 0]
        f_modes = np.exp(estimator.score_samples(modes[:, None]))
        ax.vlines(modes, 0, f_modes, colors="tab:red", lw=0.8, zorder=4)
        ax.scatter(
            modes, f_modes, marker="*", s=200, c="tab:red", edgecolors="k",
            label="modes", zorder=5,
        )  # fmt: skip
    elif command == "sample":
        ax.hist(
            result["samples"][:, 0], bins="auto", density=True, color="tab:orange",
            histtype="step", lw=1.2, label=f"{len(result['samples'])} samples",
            zorder=2,
        )  # fmt: skip
    elif command == "score":
        Q = result["queries"][:, 0]
        ax.scatter(Q, np.exp(result["values"]), s=12, c="tab:green", zorder=4,
                   label="f at the points")  # fmt: skip
    elif command == "grad":
        twin = ax.twinx()
        g = estimator.gradient(x[:, None], log=True)[:, 0]
        twin.plot(x, g, color="tab:red", lw=1.2, label="d log f / dx")
        twin.axhline(0, color="tab:red", lw=0.5, ls="--")
        bound = np.max(np.abs(g[density > 1e-3 * top])) * 1.1
        twin.set_ylim(-bound, bound)
        twin.set_ylabel("d log f / dx (uphill where > 0)", color="tab:red")
        ax.plot([], [], color="tab:red", label="d log f / dx (right axis)")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(-0.08 * top, 1.08 * top)
    ax.set_xlabel(names[0])
    ax.set_ylabel("density")
    ax.text(
        0.01, 0.99, "shading: highest density regions", transform=ax.transAxes,
        va="top", fontsize=7, color="0.35",
    )  # fmt: skip
