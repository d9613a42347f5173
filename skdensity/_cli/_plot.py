"""Pictures for the command-line tool's ``--plot`` (matplotlib, 2-D data)."""

import numpy as np

from ._io import InputError


def check_plottable(X):
    """Raise unless ``X`` has two columns and matplotlib is installed."""
    if X.shape[1] != 2:
        raise InputError(
            f"--plot draws 2-D data; there are {X.shape[1]} columns. Choose two "
            f"with --columns."
        )
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError(
            "--plot needs matplotlib: pip install 'skdensity[examples]'."
        ) from None


def plot(path, command, estimator, X, names, extra, title):
    """Density of a 2-D fit with its 50/90/99% highest density regions, the
    data, and what the command computed."""
    check_plottable(X)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * (hi - lo) + 1e-12
    g0, g1 = np.meshgrid(
        np.linspace(lo[0] - pad[0], hi[0] + pad[0], 120),
        np.linspace(lo[1] - pad[1], hi[1] + pad[1], 120),
    )
    log_f = estimator.score_samples(np.column_stack([g0.ravel(), g1.ravel()]))
    density = np.exp(log_f).reshape(g0.shape)
    fig, ax = plt.subplots(figsize=(6, 5), layout="constrained")
    ax.contourf(g0, g1, density, levels=15, cmap="Blues")
    _draw_regions(ax, g0, g1, density, estimator)
    if command == "sample":
        ax.scatter(*X.T, s=8, c="0.3", label="data")
        ax.scatter(*extra["samples"].T, s=8, c="tab:orange", label="samples")
    elif command == "score":
        Q = extra["queries"]
        points = ax.scatter(*Q.T, s=10, c=extra["values"], cmap="viridis")
        fig.colorbar(points, ax=ax, label="log-density")
    elif command == "modes":
        ax.scatter(*X.T, s=6, c="0.3", label="data")
        _draw_modes(ax, extra["modes"])
        if len(extra["saddles"]):
            ax.scatter(
                *extra["saddles"].T,
                marker="X",
                s=120,
                c="tab:orange",
                edgecolors="k",
                label="saddle / flat points",
            )
    elif command == "cluster":
        labels = extra["labels"]
        ax.scatter(*X.T, s=10, c=labels, cmap="tab10", vmin=0, vmax=9)
        _draw_modes(ax, extra["modes"])
    elif command == "grad":
        Q, G = extra["queries"], extra["gradient"]
        # A gradient is per unit of each column; drawn in axes scaled to the
        # data's spans, steepest ascent is the gradient times the squared spans.
        direction = G * (hi - lo + pad) ** 2
        ax.scatter(*Q.T, s=6, c="0.3")
        ax.quiver(
            *Q.T, *direction.T, color="tab:red", angles="xy",
            label="gradient (ascent direction on this plot)",
        )  # fmt: skip
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title(title, fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    fig.savefig(path, dpi=100)
    plt.close(fig)


#: Probabilities of the highest density regions every plot outlines.
REGION_PROBS = (0.99, 0.9, 0.5)


def _draw_regions(ax, g0, g1, density, estimator):
    """The 50/90/99% highest density regions, as labelled contour lines."""
    regions = estimator.density_level(list(REGION_PROBS), random_state=0)
    lines = ax.contour(
        g0, g1, density, levels=regions.level, colors="k", linewidths=[0.6, 0.9, 1.2]
    )
    labels = [f"{p:.0%}" for p in REGION_PROBS]
    ax.clabel(lines, fmt=dict(zip(regions.level, labels, strict=True)), fontsize=7)


def _draw_modes(ax, modes):
    """The modes as large red stars, as in every plot of the CLI."""
    ax.scatter(*modes.T, marker="*", s=250, c="tab:red", edgecolors="k", label="modes")
