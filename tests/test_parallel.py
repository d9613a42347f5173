"""n_jobs, joblib backends and a real dask.distributed cluster give the same numbers.

Query chunks are cut at the same rows whatever the number of workers, every
matrix product is small enough that BLAS runs it on the calling thread, and
each query's result depends on that query alone, so parallel results must
equal serial ones bit for bit, not merely to rounding, whatever the number
of BLAS threads.
"""

import threading

import numpy as np
import pytest
from joblib import parallel_config
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import config_context
from threadpoolctl import threadpool_info, threadpool_limits

import skdensity._core._evaluate as evaluate
from skdensity import GaussianKDE, GaussianMixtureGrad, find_modes
from skdensity._core import ROW_ALIGN, effective_n_jobs, for_each_row_chunk, plan_blocks


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
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(1500, 3)), rng.normal(4, 1, size=(700, 3))])
    Q = rng.normal(2, 2, size=(1003, 3))
    return X, Q


@pytest.mark.parametrize("n_jobs", [2, 3, -1])
def test_threads_give_identical_results(data, n_jobs):
    X, Q = data
    serial = GaussianKDE().fit(X)
    parallel = GaussianKDE(n_jobs=n_jobs).fit(X)
    # A small budget: many row chunks and component blocks.
    with config_context(working_memory=1):
        expected = _all_results(serial, Q)
        _assert_same(_all_results(parallel, Q), expected)
    _assert_same(_all_results(parallel, Q), _all_results(serial, Q))


def test_mixture_follows_parallel_config(data):
    # GaussianMixture has no n_jobs; joblib's n_jobs setting still applies.
    # (Enough queries that the work is worth splitting.)
    X, Q = data
    Q = np.tile(Q, (40, 1))
    gm = GaussianMixtureGrad(4, random_state=0).fit(X)
    with config_context(working_memory=0.1):
        expected = _all_results(gm, Q)
        with parallel_config(n_jobs=2):
            _assert_same(_all_results(gm, Q), expected)


def test_work_is_split_only_when_worth_it():
    # Tasks start at multiples of the block (so results cannot depend on
    # n_jobs); tiny computations stay in one task.
    big = plan_blocks(5000, 3000, 100, n_jobs=2)
    assert len(big.tasks) >= 4 and big.n_workers == 2
    assert all(t.start % big.row_block == 0 for t in big.tasks)
    assert plan_blocks(5000, 3000, 100, n_jobs=1).tasks == (slice(0, 5000),)
    with threadpool_limits(limits=1, user_api="blas"):
        assert plan_blocks(5000, 3000, 100).tasks == (slice(0, 5000),)
    small = plan_blocks(50, 300, 100, n_jobs=2)
    assert len(small.tasks) == 1 and small.n_workers == 1


def _blas_limit():
    return min(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


def test_default_workers_follow_blas_limit_and_config():
    # n_jobs=None: as many threads as BLAS would use now; joblib's n_jobs
    # setting when one is made; an explicit n_jobs before either.
    assert effective_n_jobs(None) == _blas_limit()
    with threadpool_limits(limits=1, user_api="blas"):
        assert effective_n_jobs(None) == 1
        assert effective_n_jobs(3) == 3
        with parallel_config(n_jobs=2, prefer="threads"):
            assert effective_n_jobs(None) == 2
        with parallel_config(backend="threading", n_jobs=3):
            assert effective_n_jobs(None) == 3
            assert effective_n_jobs(1) == 1
    limit = _blas_limit()
    if limit > 1:  # where the machine has a core to spare for BLAS
        with threadpool_limits(limits=2, user_api="blas"):
            assert effective_n_jobs(None) == 2
    # Inside a worker of the core's own pool no nested pool is started; an
    # ordinary thread is no worker.
    seen = {}
    for_each_row_chunk(
        lambda rows: effective_n_jobs(None),
        np.arange(4),
        [slice(i, i + 1) for i in range(4)],
        lambda rows, value: seen.update({rows.start: value}),
        n_jobs=2,
    )
    assert set(seen.values()) == {1}
    thread = threading.Thread(target=lambda: seen.update(t=effective_n_jobs(None)))
    thread.start()
    thread.join()
    assert seen["t"] == limit


def _meet_in_pairs(monkeypatch, name):
    """Make the core's task ``name`` wait, in each new thread, until a
    second thread waits too (a lone worker times out instead); returns the
    list of threads that met."""
    barrier = threading.Barrier(2, timeout=20)
    original = getattr(evaluate, name)
    local = threading.local()  # fresh in every thread, even if its id is reused
    met = []

    def task(*args):
        if not getattr(local, "met", False):
            local.met = True
            met.append(threading.current_thread())
            barrier.wait()
        return original(*args)

    monkeypatch.setattr(evaluate, name, task)
    return met


def test_mixture_parallel_config_runs_two_workers(data, monkeypatch):
    # joblib's own effective_n_jobs(None) reports 1 here (it falls back to
    # threads with n_jobs=1 when threads are preferred without a backend).
    X, Q = data
    Q = np.tile(Q, (40, 1))
    gm = GaussianMixtureGrad(4, random_state=0).fit(X)
    with threadpool_limits(limits=1, user_api="blas"):
        expected = _all_results(gm, Q)
    met = _meet_in_pairs(monkeypatch, "component_task")
    with (
        config_context(working_memory=0.2),
        parallel_config(n_jobs=2, prefer="threads"),
    ):
        results = _all_results(gm, Q)
    assert len(met) >= 2
    _assert_same(results, expected)


def test_default_uses_blas_threads_with_identical_results(data, monkeypatch):
    X, Q = data
    Q = np.tile(Q, (4, 1))
    kde = GaussianKDE().fit(X)
    with threadpool_limits(limits=1, user_api="blas"):
        expected = _all_results(kde, Q)
    if _blas_limit() < 2:
        # A machine (or a CI setting, OPENBLAS_NUM_THREADS=1) whose BLAS runs
        # one thread: the default is then one worker, which
        # test_default_workers_follow_blas_limit_and_config checks; there is
        # no second worker to meet here.
        pytest.skip("BLAS runs one thread here: the default has one worker")
    met = _meet_in_pairs(monkeypatch, "shared_task")
    with threadpool_limits(limits=2, user_api="blas"):
        results = _all_results(kde, Q)
    assert len(met) >= 2
    _assert_same(results, expected)


@pytest.mark.parametrize(("n", "d"), [(3000, 3), (500, 2), (2000, 5), (700, 1)])
def test_a_query_does_not_depend_on_the_others(n, d):
    # Every product is a serial BLAS call of full row tiles, so in a call of
    # at least ROW_ALIGN queries a row's bits depend neither on the rows
    # beside it nor on BLAS's threads (before, OpenBLAS's small-matrix kernel
    # served 16 rows and its general kernel a batch: 1e-13 apart at
    # n = 3000, d = 3). Fewer queries are computed unpadded: the same values
    # to rounding.
    rng = np.random.default_rng(n + d)
    kde = GaussianKDE().fit(rng.standard_normal((n, d)))
    Q = 1.5 * rng.standard_normal((200, d))
    h = np.sqrt(np.linalg.eigvalsh(kde.covariance_).min())
    for blas in (1, None):
        with threadpool_limits(limits=blas, user_api="blas"):
            batch = _all_results(kde, Q)
            for i in range(0, 184, 23):
                rows = slice(i, i + ROW_ALIGN)
                _assert_same(_all_results(kde, Q[rows]), [r[rows] for r in batch])
                alone = _all_results(kde, Q[i : i + 1])
                f = np.exp(batch[0][i])
                # Rounding, in natural units: |log f| for log f; s^k for the
                # k-th derivative of log f and f s^k for that of f, with
                # s = 1/h + |grad log f| (the moments cancel like that).
                s = 1 / h + np.linalg.norm(batch[2][i])
                units = [abs(batch[0][i]), f * s, s, f * s**2, s**2]
                for got, want, unit in zip(alone, batch, units, strict=True):
                    assert_allclose(got[0], want[i], rtol=0, atol=1e-13 * unit)


def test_loky_processes_give_identical_results(data):
    # Local and worker processes at one BLAS thread each (the products are
    # serial anyway; this also keeps the two processes off each other's cores).
    X, Q = data
    kde = GaussianKDE().fit(X)
    with config_context(working_memory=0.2):
        with threadpool_limits(limits=1, user_api="blas"):
            expected = _all_results(kde, Q)
        with parallel_config(backend="loky", n_jobs=2, inner_max_num_threads=1):
            _assert_same(_all_results(kde, Q), expected)


@pytest.mark.slow
def test_dask_cluster_gives_identical_results(data):
    # A real dask.distributed cluster on loopback, two worker processes:
    # joblib.parallel_config(backend="dask") sends the query chunks there.
    distributed = pytest.importorskip(
        "distributed", reason="dask[distributed] is in the test extra"
    )
    X, Q = data
    Q_gm = np.tile(Q, (40, 1))  # enough work to be split for the mixture
    kde = GaussianKDE().fit(X)
    gm = GaussianMixtureGrad(4, random_state=0).fit(X)
    # dask's nanny starts workers with OPENBLAS_NUM_THREADS=1 (and MKL's,
    # OpenMP's); the local reference runs with one BLAS thread too.
    with threadpool_limits(limits=1, user_api="blas"):
        with config_context(working_memory=0.2):
            expected = _all_results(kde, Q) + _all_results(gm, Q_gm)
        modes = find_modes(kde)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
        parallel_config(backend="dask"),
        threadpool_limits(limits=1, user_api="blas"),  # for what runs here
    ):
        with (
            distributed.get_task_stream(client) as stream,
            config_context(working_memory=0.2),
        ):
            results = _all_results(kde, Q) + _all_results(gm, Q_gm)
        n_tasks = len(stream.data)
        # find_modes ascends from all 2200 points at once (in one chunk at the
        # default working_memory): its density calls are split too.
        with distributed.get_task_stream(client) as stream:
            on_cluster = find_modes(kde)
        # The chunks did run on the workers.
        assert n_tasks >= 20
        assert len(stream.data) >= 2
    _assert_same(results, expected)
    assert_array_equal(on_cluster.modes, modes.modes)
    assert_array_equal(on_cluster.labels, modes.labels)
