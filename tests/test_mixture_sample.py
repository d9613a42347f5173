"""``sample`` of the mixtures against their scikit-learn parents.

The subclasses are drop-in replacements: for every ``n_samples`` the parent
accepts they return the parent's draws (same values, dtypes and shapes), and
for every one it rejects they raise the parent's exception type. The parent
fitted with the same parameters is the oracle.
"""

import warnings
from functools import cache

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

from skdensity import BayesianGaussianMixtureGrad, GaussianMixtureGrad

PAIRS = {
    "gmm": (GaussianMixture, GaussianMixtureGrad),
    "bgm": (BayesianGaussianMixture, BayesianGaussianMixtureGrad),
}

# Accepted by sklearn 1.9's sample (a float or 0-d array is truncated by the
# multinomial), then rejected ones: by its `n_samples < 1` test (ValueError)
# or by the comparison and the multinomial (TypeError, OverflowError, ...).
N_SAMPLES = [
    1,
    7,
    True,
    np.int64(3),
    np.uint8(4),
    2.0,
    2.5,
    np.float32(2.0),
    np.array(2),
    0,
    -1,
    0.5,
    False,
    np.int64(0),
    np.array([0]),
    -np.inf,
    "3",
    None,
    [2],
    np.array([2]),
    np.array([[1, 2]]),
    np.nan,
    np.inf,
    1e20,
    3 + 0j,
]


@cache
def _fitted_pair(kind, covariance_type):
    """The parent and the subclass fitted alike (shared: never mutate them)."""
    X = np.random.default_rng(0).normal(size=(120, 2)) * [1.0, 3.0]
    X[60:] += 6.0
    params = dict(n_components=2, covariance_type=covariance_type, random_state=0)
    parent_cls, ours_cls = PAIRS[kind]
    parent, ours = parent_cls(**params).fit(X), ours_cls(**params).fit(X)
    assert_array_equal(ours.means_, parent.means_)
    assert_array_equal(ours.covariances_, parent.covariances_)
    return parent, ours


def _outcome(sample, n_samples):
    """``(X, y, warning categories)`` of a call, or the exception it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            X, y = sample(n_samples)
        except Exception as exc:  # noqa: BLE001 - the type is what is compared
            return exc
    return X, y, [w.category for w in caught]


def _assert_same_outcome(ours, parent):
    if isinstance(parent, Exception):
        assert type(ours) is type(parent), (ours, parent)
        return
    assert not isinstance(ours, Exception), ours
    for mine, theirs in zip(ours[:2], parent[:2], strict=True):
        assert mine.dtype == theirs.dtype
        assert_array_equal(mine, theirs, strict=True)
    assert ours[2] == parent[2]


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("kind", PAIRS)
@pytest.mark.parametrize("n_samples", N_SAMPLES, ids=repr)
def test_sample_as_parent(kind, covariance_type, n_samples):
    parent, ours = _fitted_pair(kind, covariance_type)
    # Both draw from their own random_state, the int 0: the same generator.
    expected = _outcome(parent.sample, n_samples)
    _assert_same_outcome(_outcome(ours.sample, n_samples), expected)
    # The extension: random_state=0 per call is the parent seeded with 0.
    _assert_same_outcome(
        _outcome(lambda n: ours.sample(n, random_state=0), n_samples), expected
    )


@pytest.mark.parametrize("kind", PAIRS)
def test_sample_accepts_what_the_parent_accepts(kind):
    # The accepted inputs above, pinned so that a change of sklearn (or of
    # our class) that starts rejecting them shows here.
    parent, ours = _fitted_pair(kind, "full")
    for n_samples, size in [(2.0, 2), (2.5, 2), (np.float32(3.0), 3), (True, 1)]:
        for est in (parent, ours):
            X, y = est.sample(n_samples)
            assert X.shape == (size, 2) and y.shape == (size,)
            assert X.dtype == np.float64 and y.dtype == np.int64


@pytest.mark.parametrize("kind", PAIRS)
@pytest.mark.parametrize("n_samples", [0, -1, 0.5, False])
def test_sample_below_one_says_what_was_given(kind, n_samples):
    _, ours = _fitted_pair(kind, "diag")
    for kwargs in ({}, {"random_state": 0}):
        with pytest.raises(ValueError, match=rf"'n_samples': {n_samples!r}\. .*>= 1"):
            ours.sample(n_samples, **kwargs)


@pytest.mark.parametrize("kind", PAIRS)
def test_sample_not_fitted_first(kind):
    # As the parent: NotFittedError before any check of the arguments.
    parent_cls, ours_cls = PAIRS[kind]
    with pytest.raises(NotFittedError):
        parent_cls().sample(0)
    for kwargs in ({}, {"random_state": 0}, {"random_state": "seed"}):
        with pytest.raises(NotFittedError):
            ours_cls().sample(0, **kwargs)


@pytest.mark.parametrize("kind", PAIRS)
def test_sample_random_state_generator_is_the_parents(kind):
    # A RandomState passed per call is used as the parent uses its own.
    parent, ours = _fitted_pair(kind, "tied")
    reference = parent.__class__(**parent.get_params())
    reference.__dict__.update(
        {k: v for k, v in vars(parent).items() if k.endswith("_")}
    )
    reference.random_state = np.random.RandomState(5)
    generator = np.random.RandomState(5)
    for n_samples in (3, 4.0):
        X_ref, y_ref = reference.sample(n_samples)
        X, y = ours.sample(n_samples, random_state=generator)
        assert_array_equal(X, X_ref, strict=True)
        assert_array_equal(y, y_ref, strict=True)
    assert ours.random_state == 0
