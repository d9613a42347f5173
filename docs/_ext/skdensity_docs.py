"""Gallery helpers for the documentation build."""

from sphinx_gallery.scrapers import matplotlib_scraper


def first_panel_thumbnail_scraper(block, block_vars, gallery_conf, **kwargs):
    """matplotlib's scraper, plus a readable thumbnail for multi-panel figures.

    A thumbnail is the example's first image shrunk to a card: a figure of
    several panels becomes unreadable. Before the first figure of an example
    is scraped, its first panel alone is saved as image 1, which
    sphinx-gallery makes the thumbnail; the page shows the full figures
    (images 2, 3, ...) as usual.
    """
    import matplotlib.pyplot as plt

    paths = block_vars["image_path_iterator"]
    numbers = plt.get_fignums()
    if len(paths) == 0 and numbers:
        fig = plt.figure(numbers[0])
        panels = [
            ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"
        ]
        if len(panels) > 1:
            renderer = fig.canvas.get_renderer()
            box = (
                panels[0]
                .get_tightbbox(renderer)
                .transformed(fig.dpi_scale_trans.inverted())
            )
            fig.savefig(next(iter(paths)), bbox_inches=box.padded(0.05), dpi=110)
    return matplotlib_scraper(block, block_vars, gallery_conf, **kwargs)
