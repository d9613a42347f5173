"""Small shared helpers: chunk sizing, parallel map over row chunks.

Every private scikit-learn import of the package lives here, so that a change
in scikit-learn is mended in one place.
"""

import numpy as np
from sklearn import get_config
from sklearn.utils import gen_batches
from sklearn.utils._param_validation import Interval, StrOptions  # noqa: F401
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import (  # noqa: F401
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

#: Fewest query rows a chunk is given before components are split into blocks.
_MIN_CHUNK_ROWS = 64


def working_memory_bytes():
    """Return sklearn's ``working_memory`` setting in bytes."""
    return int(get_config()["working_memory"] * 2**20)


def plan_chunks(n_rows, n_cols, bytes_per_cell, bytes_per_row=0, n_jobs=None):
    """Split an ``n_rows x n_cols`` computation into blocks within working memory.

    A block of ``r`` rows and ``c`` columns is budgeted at
    ``r * (c * bytes_per_cell + bytes_per_row)`` bytes. Columns (mixture
    components) are split only when a block of all columns would not fit even
    ``_MIN_CHUNK_ROWS`` rows.

    Parameters
    ----------
    n_rows, n_cols : int
        Number of query rows and of mixture components.
    bytes_per_cell : int
        Bytes needed per (row, component) pair.
    bytes_per_row : int, default=0
        Bytes needed per row whatever the number of components.
    n_jobs : int, default=None
        When more than one job runs, rows are split into at least that many
        chunks so that every job gets work.

    Returns
    -------
    row_slices : list of slice
    col_slices : list of slice
    """
    budget = working_memory_bytes()
    min_rows = min(n_rows, _MIN_CHUNK_ROWS)
    col_chunk = max(1, min(n_cols, budget // max(1, min_rows * bytes_per_cell)))
    row_bytes = col_chunk * bytes_per_cell + bytes_per_row
    row_chunk = max(1, min(n_rows, budget // max(1, row_bytes)))
    n_workers = effective_n_jobs(n_jobs)
    if n_workers > 1:
        row_chunk = min(row_chunk, max(1, -(-n_rows // n_workers)))
    return list(gen_batches(n_rows, row_chunk)), list(gen_batches(n_cols, col_chunk))


def effective_n_jobs(n_jobs):
    """Number of workers joblib would use for ``n_jobs``."""
    from joblib import effective_n_jobs as _effective

    return _effective(n_jobs)


def map_row_chunks(func, X, row_slices, n_jobs=None):
    """Apply ``func`` to row chunks of ``X``, in parallel with joblib when asked.

    Threads are preferred (NumPy and BLAS release the GIL); a backend set with
    ``joblib.parallel_config`` (for example ``"dask"``) takes precedence.
    scikit-learn's configuration, ``working_memory`` included, reaches the
    workers.

    Returns
    -------
    list
        ``func(X[s])`` for each slice ``s``, in order.
    """
    if effective_n_jobs(n_jobs) == 1 or len(row_slices) == 1:
        return [func(X[s]) for s in row_slices]
    return Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(func)(X[s]) for s in row_slices
    )


def concatenate_chunks(chunks):
    """Concatenate a list of tuples of arrays along their first axis."""
    return tuple(
        None if parts[0] is None else np.concatenate(parts)
        for parts in zip(*chunks, strict=True)
    )
