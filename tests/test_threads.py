"""A call changes no process-wide state, and its results do not depend on the thread.

OpenBLAS (NumPy's and SciPy's wheels) has one thread pool per process: a BLAS
limit set during a call would throttle every other thread of the user's, undo
or override a limit the user set in another thread, and could outlive the
call. These tests watch the process-wide BLAS setting from other threads
while calls run, after calls from worker threads, and after calls that were
interrupted, and compare results computed in different threads bit for bit.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import pytest
from joblib import parallel_config
from numpy.testing import assert_array_equal
from threadpoolctl import threadpool_info, threadpool_limits

import skdensity._core._blocks as _utils
import skdensity._core._evaluate as core
from skdensity import GaussianKDE, GaussianMixtureGrad


def _blas_threads():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def _all_results(est, Q):
    return [
        est.score_samples(Q),
        est.gradient(Q),
        est.gradient(Q, log=True),
        est.hessian(Q),
        est.hessian(Q, log=True),
    ]


def _assert_same(results, expected):
    for got, want in zip(results, expected, strict=True):
        assert_array_equal(got, want)


@pytest.fixture(scope="module")
def data():
    # Large enough that OpenBLAS runs the core's products on several threads
    # when allowed to, and that n_jobs=2 splits the work.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 5))
    Q = rng.normal(1, 2, size=(1200, 5))
    kde = GaussianKDE().fit(X)
    kde2 = GaussianKDE(n_jobs=2).fit(X)
    gm = GaussianMixtureGrad(3, covariance_type="full", random_state=0).fit(X)
    return X, Q, kde, kde2, gm


def _every_kind_of_call(data):
    """Shared and per-component paths, serial and with two joblib workers."""
    _, Q, kde, kde2, gm = data
    _all_results(kde, Q[:300])
    _all_results(kde2, Q[:600])
    with parallel_config(n_jobs=2):
        _all_results(gm, np.tile(Q, (2, 1)))


def _in_new_thread(func):
    box = {}
    thread = threading.Thread(target=lambda: box.update(result=func()))
    thread.start()
    thread.join()
    return box["result"]


@pytest.mark.parametrize("n_jobs", [None, 2])
@pytest.mark.parametrize("kind", ["kde", "gmm"])
def test_results_do_not_depend_on_calling_thread(data, kind, n_jobs):
    X, Q, *_ = data
    if kind == "kde":
        est = GaussianKDE(n_jobs=n_jobs).fit(X)
    else:
        est = GaussianMixtureGrad(3, covariance_type="full", random_state=0).fit(X)
        Q = np.tile(Q, (4, 1))

    def compute():
        with parallel_config(n_jobs=n_jobs):
            return _all_results(est, Q)

    # The main thread first: an implementation whose first caller takes
    # control of the BLAS settings would then treat the others differently.
    expected = compute()
    _assert_same(_in_new_thread(compute), expected)
    with ThreadPoolExecutor(2) as pool:
        for results in pool.map(lambda _: compute(), range(2)):
            _assert_same(results, expected)


def test_user_limit_in_another_thread_stays_in_effect(data):
    # A user limits BLAS in a thread of their own while the estimators are
    # used elsewhere (after an ordinary call): the limit takes effect and
    # holds throughout, whatever the calls do.
    before = _blas_threads()
    _every_kind_of_call(data)
    entered, done = threading.Event(), threading.Event()
    seen = {"during": []}

    def user():
        with threadpool_limits(limits=1, user_api="blas"):
            seen["entered"] = _blas_threads()
            entered.set()
            while not done.is_set():
                seen["during"].append(_blas_threads())
                time.sleep(0.005)
            seen["after"] = _blas_threads()

    thread = threading.Thread(target=user)
    thread.start()
    try:
        assert entered.wait(60)
        _every_kind_of_call(data)
    finally:
        done.set()
        thread.join()
    ones = [1] * len(before)
    assert seen["entered"] == ones
    assert seen["during"]
    assert all(threads == ones for threads in seen["during"])
    assert seen["after"] == ones
    assert _blas_threads() == before


@pytest.mark.parametrize("user_limit", [None, 1])
def test_concurrent_calls_change_no_blas_setting(data, user_limit):
    # The main thread calls, then four threads (the main one too) call at
    # once; another thread watches the process-wide BLAS setting meanwhile:
    # it stays what the user set, during and after.
    with threadpool_limits(limits=user_limit, user_api="blas"):
        expected = _blas_threads()
        done = threading.Event()
        watched = []

        def watch():
            while not done.is_set():
                watched.append(_blas_threads())
                time.sleep(0.005)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            _every_kind_of_call(data)
            with ThreadPoolExecutor(3) as pool:
                calls = [pool.submit(_every_kind_of_call, data) for _ in range(3)]
                _every_kind_of_call(data)
                for call in calls:
                    call.result()
        finally:
            done.set()
            watcher.join()
        assert watched
        assert all(threads == expected for threads in watched)
        assert _blas_threads() == expected


@contextmanager
def _interrupting(real, hits):
    with real():
        hits.append(threading.current_thread())
        raise KeyboardInterrupt
    yield  # pragma: no cover - never reached


@pytest.mark.parametrize("in_worker", [False, True])
@pytest.mark.parametrize("n_jobs", [None, 2])
def test_interrupted_call_changes_nothing(monkeypatch, data, n_jobs, in_worker):
    # A KeyboardInterrupt inside a call (in the core's BLAS region, in the
    # calling thread or a worker of n_jobs) leaves no setting behind and no
    # thread in control of the BLAS settings: a limit the user sets
    # afterwards, in any thread, takes effect; later calls give the same
    # results.
    X, Q, *_ = data
    kde = GaussianKDE(n_jobs=n_jobs).fit(X)
    expected = _all_results(kde, Q)
    before = _blas_threads()
    hits = []
    real = _utils.single_threaded_blas
    monkeypatch.setattr(core, "single_threaded_blas", lambda: _interrupting(real, hits))
    with ThreadPoolExecutor(1) as caller:
        call = (lambda f: caller.submit(f).result()) if in_worker else (lambda f: f())
        with pytest.raises(KeyboardInterrupt):
            call(lambda: kde.hessian(Q, log=True))
        assert hits, "the interruption was not raised inside the call"
        assert _blas_threads() == before

        # The thread that was interrupted is still alive here.
        def limited():
            with threadpool_limits(limits=1, user_api="blas"):
                return _blas_threads()

        assert _in_new_thread(limited) == [1] * len(before)
    assert _blas_threads() == before
    monkeypatch.undo()
    _assert_same(_all_results(kde, Q), expected)


class _FakeLocalSetter:
    """A per-thread BLAS setting like MKL's ``MKL_Set_Num_Threads_Local``.

    Calling it sets the calling thread's value and returns the previous one
    (0: no local setting), which is how such a setting is restored.
    """

    def __init__(self):
        self.local = threading.local()
        self.calls = []

    def value(self):
        return getattr(self.local, "value", 0)

    def __call__(self, n):
        previous = self.value()
        self.local.value = n
        self.calls.append((threading.get_ident(), n))
        return previous


@pytest.fixture
def fake_mkl(monkeypatch):
    setter = _FakeLocalSetter()
    monkeypatch.setattr(_utils, "_thread_local_blas_setters", lambda: (setter,))
    return setter


def test_thread_local_limit_is_set_and_restored(fake_mkl):
    other = {}
    with _utils.single_threaded_blas():
        assert fake_mkl.value() == 1
        # Other threads keep their own setting.
        thread = threading.Thread(target=lambda: other.update(v=fake_mkl.value()))
        thread.start()
        thread.join()
        with _utils.single_threaded_blas():
            assert fake_mkl.value() == 1
        assert fake_mkl.value() == 1
    assert other["v"] == 0
    assert fake_mkl.value() == 0
    fake_mkl.local.value = 3  # a limit of the user's, in this thread
    for exc in (KeyboardInterrupt, ValueError):
        with pytest.raises(exc), _utils.single_threaded_blas():
            assert fake_mkl.value() == 1
            raise exc
        assert fake_mkl.value() == 3


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_thread_local_limit_inside_calls(monkeypatch, fake_mkl, data, n_jobs):
    # Every thread that computes a chunk limits its own BLAS to one thread
    # while it runs, and every thread's setting is restored afterwards.
    X, Q, *_ = data
    inside = []
    real_task = core._single_threaded

    def spy(task, *args):
        def recorded(*a):
            inside.append(fake_mkl.value())
            return task(*a)

        return real_task(recorded, *args)

    monkeypatch.setattr(core, "_single_threaded", spy)
    GaussianKDE(n_jobs=n_jobs).fit(X).hessian(np.tile(Q, (4, 1)))
    assert all(v == 1 for v in inside)
    if n_jobs is not None:
        assert inside
    by_thread = {}
    for ident, n in fake_mkl.calls:
        by_thread.setdefault(ident, []).append(n)
    assert by_thread
    for values in by_thread.values():
        # Each set has its restore, the last one to the thread's original
        # value (no local setting).
        assert len(values) % 2 == 0
        assert values[-1] == 0


def test_binned_fit_changes_no_blas_setting(data):
    X, *_ = data
    kde = GaussianKDE(algorithm="binned", rtol=1e-3)
    expected = _blas_threads()
    done = threading.Event()
    watched = []

    def watch():
        while not done.is_set():
            watched.append(_blas_threads())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(5):
            kde.fit(np.tile(X[:, :2], (10, 1)))
    finally:
        done.set()
        watcher.join()
    assert all(threads == expected for threads in watched)


def test_ascents_in_threads_leave_no_warning_filter():
    # find_modes silences scikit-learn's feature-name warning while it runs;
    # warnings.catch_warnings (process-wide state) left its filter behind
    # when ascents ran in several threads at once.
    import warnings

    pd = pytest.importorskip("pandas")
    from skdensity import find_modes

    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(300, 2)), columns=["a", "b"])
    kde = GaussianKDE().fit(df)
    before = list(warnings.filters)

    def work():
        for _ in range(5):
            find_modes(kde, df.iloc[:20])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert warnings.filters == before
