"""Every private scikit-learn and joblib import of the package, and the
estimator plumbing built on them, in one place: a change in either library is
mended here."""

import warnings
from contextlib import contextmanager

import numpy as np
from joblib._parallel_backends import (  # noqa: F401
    LokyBackend,
    MultiprocessingBackend,
    ThreadingBackend,
)
from joblib.parallel import get_active_backend  # noqa: F401
from sklearn import get_config  # noqa: F401
from sklearn.base import _fit_context as fit_context  # noqa: F401
from sklearn.utils import gen_batches  # noqa: F401
from sklearn.utils._param_validation import (  # noqa: F401
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)
from sklearn.utils.parallel import Parallel, delayed  # noqa: F401
from sklearn.utils.validation import (  # noqa: F401
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

#: joblib's own backends on this machine (threads and local processes), as
#: opposed to those of other libraries (dask, ray, spark), which count their
#: own workers.
JOBLIB_LOCAL_BACKENDS = (LokyBackend, MultiprocessingBackend, ThreadingBackend)


@contextmanager
def discard_fit_on_error(estimator, private=()):
    """Run a fit; if it raises, delete what it set, then re-raise.

    A failed fit leaves no half-fitted state: every attribute ending in ``_``
    (``validate_data`` sets ``n_features_in_`` before the fit can fail, and a
    refit would otherwise keep the previous fit's attributes) and the private
    fitted attributes named in ``private`` are removed, so the estimator is
    plainly not fitted. ``BaseException`` is caught (and re-raised) so that a
    ``KeyboardInterrupt`` or ``SystemExit`` in mid-fit cleans up too: a refit
    interrupted after ``validate_data`` would otherwise pair the new
    ``n_features_in_`` with the previous model.
    """
    try:
        yield
    except BaseException:
        for name in [a for a in vars(estimator) if a.endswith("_") or a in private]:
            delattr(estimator, name)
        raise


def filters_changed():
    """Tell the ``warnings`` module that its filter list changed, after an
    entry was removed by hand, so that its cached per-module registries are
    rebuilt (its own hook is private: ``_filters_mutated`` to Python 3.13,
    ``_filters_mutated_lock_held`` under ``_lock`` from 3.14)."""
    hook = getattr(warnings, "_filters_mutated", None)
    if hook is not None:
        hook()
        return
    hook = getattr(warnings, "_filters_mutated_lock_held", None)
    lock = getattr(warnings, "_lock", None)
    if hook is not None and lock is not None:
        with lock:
            hook()


def validate_queries(estimator, X):
    """``validate_data(estimator, X, reset=False, dtype=np.float64)``, fast
    where nothing needs converting.

    A single query costs about 0.3 ms in ``validate_data`` (dataframe and
    feature-name detection), 15x the arithmetic of a gradient against 500
    kernels. An input that is already a non-empty 2-D float64 ``ndarray``
    of the fitted width, all finite, for an estimator fitted without
    feature names, is returned as is: ``validate_data`` would return it
    unchanged. Anything else (lists, DataFrames, other dtypes, a wrong
    width, NaN or inf, an estimator fitted on names) goes through
    ``validate_data``, with its conversions, warnings and errors.
    """
    if (
        type(X) is np.ndarray
        and X.dtype == np.float64
        and X.ndim == 2
        and X.shape[0] > 0
        and X.shape[1] == getattr(estimator, "n_features_in_", None)
        and getattr(estimator, "feature_names_in_", None) is None
        and np.isfinite(X).all()
    ):
        return X
    return validate_data(estimator, X, reset=False, dtype=np.float64)
