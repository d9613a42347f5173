"""Bundled real data sets."""

from importlib import resources

import numpy as np


def load_faithful():
    """Old Faithful geyser eruptions (272 rows, 2 features).

    Columns: ``eruptions`` (duration, minutes) and ``waiting`` (time to the
    next eruption, minutes). Azzalini & Bowman (1990), distributed with R as
    ``datasets::faithful``. A classic bimodal 2-D data set.

    Returns
    -------
    X : ndarray of shape (272, 2)
        The data.
    feature_names : list of str
        ``["eruptions", "waiting"]``.

    Examples
    --------
    >>> from skdensity.datasets import load_faithful
    >>> X, names = load_faithful()
    >>> X.shape, names
    ((272, 2), ['eruptions', 'waiting'])
    """
    path = resources.files("skdensity") / "data" / "faithful.csv"
    with path.open() as fh:
        header = fh.readline().strip().split(",")
        X = np.loadtxt(fh, delimiter=",")
    return X, [name.strip('"') for name in header]
