"""Checks and conversions of the inputs of the distribution methods."""

from numbers import Integral

import numpy as np


def feature_indices(estimator, features):
    """Column indices of ``features`` (indices or names), checked.

    Negative indices count from the end; names need ``feature_names_in_``.
    Raises ValueError for an empty list, a repeated, out-of-range or unknown
    feature, or an item that is neither.
    """
    d = estimator.n_features_in_
    names = getattr(estimator, "feature_names_in_", None)
    if isinstance(features, (str, Integral)):
        features = [features]
    try:
        items = list(features)
    except TypeError:
        raise ValueError(
            f"features must be a column index, a feature name or a list of "
            f"them; got {features!r}."
        ) from None
    if not items:
        raise ValueError("features is empty: name at least one feature.")
    index = []
    for item in items:
        if isinstance(item, str):
            if names is None:
                raise ValueError(
                    f"Feature {item!r} is given by name, but the estimator was "
                    f"fitted without feature names; pass column indices "
                    f"0..{d - 1}."
                )
            hits = np.flatnonzero(names == item)
            if not hits.size:
                raise ValueError(
                    f"Unknown feature {item!r}; the features are {list(names)}."
                )
            index.append(int(hits[0]))
        elif isinstance(item, Integral) and not isinstance(item, bool):
            if not -d <= item < d:
                raise ValueError(
                    f"Feature index {item} is out of range: the estimator has "
                    f"{d} features (indices 0..{d - 1}, or negative from the "
                    f"end)."
                )
            index.append(int(item) % d)
        else:
            raise ValueError(
                f"features must be column indices or feature names; got {item!r}."
            )
    index = np.asarray(index)
    if np.unique(index).size != index.size:
        raise ValueError(f"features name a column twice: {items!r}.")
    return index


def names_of(estimator, index):
    """Feature names at ``index``, or None when fitted without names."""
    names = getattr(estimator, "feature_names_in_", None)
    return None if names is None else names[index]


def as_points(values, n_features, name, *, allow_infinite=False):
    """Rows of ``n_features`` floats, and whether one row came as a vector."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 0 and n_features == 1:
        values = values.reshape(1)
    single = values.ndim == 1
    rows = values.reshape(1, -1) if single else values
    if rows.ndim != 2 or rows.shape[1] != n_features or rows.shape[0] == 0:
        raise ValueError(
            f"{name} must have shape ({n_features},) or (n, {n_features}); "
            f"got shape {values.shape}."
        )
    bad = np.isnan(rows) if allow_infinite else ~np.isfinite(rows)
    if bad.any():
        what = "NaN" if allow_infinite else "NaN or infinite values"
        raise ValueError(f"{name} contains {what}; pass finite numbers.")
    return rows, single


def as_generator(random_state):
    """A :class:`numpy.random.Generator` from an int, a generator or None.

    A ``RandomState`` seeds a new generator from one draw; None gives fresh
    entropy (never the global ``numpy.random`` state).
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31))
    if random_state is None or isinstance(random_state, Integral):
        return np.random.default_rng(random_state)
    raise ValueError(
        f"random_state must be None, an int, a numpy Generator or RandomState; "
        f"got {random_state!r}."
    )


def as_float_arrays(*values):
    """The arguments as float64 arrays, broadcast together."""
    return np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in values))


def squeeze(values, scalar):
    return float(values[0]) if scalar else values


def shaped_like(values, shape):
    """Flat results in the ``shape`` of the input: a float for a scalar."""
    return float(values[0]) if shape == () else values.reshape(shape)
