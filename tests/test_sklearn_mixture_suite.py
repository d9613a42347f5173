"""scikit-learn's own mixture tests, run against our subclasses.

The test functions of ``sklearn.mixture.tests`` (shipped in the wheel) are
collected here under the names ``test_gm_*`` (``test_gaussian_mixture.py``),
``test_bgm_*`` (``test_bayesian_mixture.py``) and ``test_mixture_*``
(``test_mixture.py``), with their own parametrisations and marks. While each
runs, the names ``GaussianMixture`` and ``BayesianGaussianMixture`` in those
modules are our subclasses, and estimator instances in their parametrisations
are replaced by ours: every ``GaussianMixture(...)`` a test builds is a
:class:`~skdensity.GaussianMixtureGrad`. A test whose code names a mixture
class must build one of ours, or it fails.

sklearn's tests expect messages such as "This GaussianMixture instance is
not fitted yet", where our classes say "This GaussianMixtureGrad instance":
``pytest.raises`` in those modules reads the class name in ``match`` as ours,
and nothing else in the pattern changes. So no test is excluded.
"""

import functools
import re
import types

import numpy as np
import pytest
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
from sklearn.mixture.tests import (
    test_bayesian_mixture,
    test_gaussian_mixture,
    test_mixture,
)

from skdensity import BayesianGaussianMixtureGrad, GaussianMixtureGrad

OURS = {
    GaussianMixture: GaussianMixtureGrad,
    BayesianGaussianMixture: BayesianGaussianMixtureGrad,
}
SKLEARN_TEST_MODULES = {
    "gm": test_gaussian_mixture,
    "bgm": test_bayesian_mixture,
    "mixture": test_mixture,
}
# Our estimators built during the current test.
_BUILT = []


# ---------------------------------------------------------------------------
# Fixtures that sklearn's conftest provides
# ---------------------------------------------------------------------------


@pytest.fixture
def global_random_seed():
    """sklearn's default seed (its conftest's, without the environment)."""
    return 42


@pytest.fixture(params=[np.float32, np.float64])
def global_dtype(request):
    """Both dtypes, float32 included (sklearn runs it on demand only)."""
    return request.param


# ---------------------------------------------------------------------------
# Collecting sklearn's tests with our classes
# ---------------------------------------------------------------------------


def _ours(value):
    """``value``, with a parent-class estimator replaced by ours (same params)."""
    if type(value) in OURS:
        return OURS[type(value)](**value.get_params())
    if isinstance(value, tuple):
        return tuple(_ours(v) for v in value)
    return value


_PARAMETER_SET = type(pytest.param(None))


def _with_our_instances(mark):
    """A parametrize mark whose parent-class estimators are ours."""
    if mark.name != "parametrize":
        return mark
    argnames, argvalues = mark.args[:2]
    values = [
        pytest.param(*_ours(v.values), marks=v.marks, id=v.id)
        if isinstance(v, _PARAMETER_SET)
        else _ours(v)
        for v in argvalues
    ]
    return pytest.mark.parametrize(argnames, values, *mark.args[2:], **mark.kwargs).mark


def _collected(func):
    """``func`` under a new identity, its parametrisations over our estimators."""
    names_a_mixture = _names_a_mixture(func.__code__)

    @functools.wraps(func)
    def test(*args, **kwargs):
        func(*args, **kwargs)
        # Checked here, not in the fixture, so that a skip is not an error.
        if names_a_mixture:
            assert _BUILT, "the test built no skdensity estimator"

    test.pytestmark = [_with_our_instances(m) for m in getattr(func, "pytestmark", [])]
    return test


def _names_a_mixture(code):
    """Whether ``code`` (or code nested in it) names a mixture class."""
    names = {cls.__name__ for cls in OURS}
    return bool(names & set(code.co_names)) or any(
        _names_a_mixture(c) for c in code.co_consts if isinstance(c, types.CodeType)
    )


def _sklearn_tests():
    for prefix, module in SKLEARN_TEST_MODULES.items():
        for name, func in vars(module).items():
            if name.startswith("test_") and func.__module__ == module.__name__:
                yield f"test_{prefix}_{name[len('test_') :]}", _collected(func)


globals().update(_sklearn_tests())


_OUR_NAME = {parent.__name__: ours.__name__ for parent, ours in OURS.items()}
_PARENT_INSTANCE = re.compile(r"\b({}) instance".format("|".join(_OUR_NAME)))


def _raises_naming_ours(expected_exception, *args, match=None, **kwargs):
    """``pytest.raises``, the parent's name in ``match`` read as ours."""
    if isinstance(match, str):
        match = _PARENT_INSTANCE.sub(
            lambda found: f"{_OUR_NAME[found[1]]} instance", match
        )
    return pytest.raises(expected_exception, *args, match=match, **kwargs)


@pytest.fixture(autouse=True)
def _our_classes(monkeypatch):
    """Our classes in sklearn's test modules, counted when built."""
    pytest_naming_ours = types.SimpleNamespace(**vars(pytest))
    pytest_naming_ours.raises = _raises_naming_ours
    for module in SKLEARN_TEST_MODULES.values():
        monkeypatch.setattr(module, "pytest", pytest_naming_ours)
        for parent, ours in OURS.items():
            if hasattr(module, parent.__name__):
                monkeypatch.setattr(module, parent.__name__, ours)
    _BUILT.clear()
    for ours in OURS.values():
        init = ours.__init__

        @functools.wraps(init)
        def counting_init(self, *args, _init=init, **kwargs):
            _BUILT.append(type(self))
            _init(self, *args, **kwargs)

        monkeypatch.setattr(ours, "__init__", counting_init)


def test_sklearn_tests_are_collected_over_our_estimators():
    for prefix, module in SKLEARN_TEST_MODULES.items():
        tests = [f for n, f in globals().items() if n.startswith(f"test_{prefix}_")]
        assert tests, f"no test collected from {module.__name__}"
        marks = [m for test in tests for m in test.pytestmark]
        for mark in [m for m in marks if m.name == "parametrize"]:
            for value in mark.args[1]:
                value = value.values if isinstance(value, _PARAMETER_SET) else value
                value = value if isinstance(value, tuple) else (value,)
                assert not [v for v in value if type(v) in OURS], mark
