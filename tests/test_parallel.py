"""n_jobs, joblib backends and a real dask.distributed cluster give the same numbers.

Query chunks are cut at the same rows whatever the number of workers, and
each query's result depends on that query alone, so parallel results must
equal serial ones bit for bit, not merely to rounding.
"""

import numpy as np
import pytest
from joblib import parallel_config
from numpy.testing import assert_array_equal
from sklearn import config_context
from threadpoolctl import threadpool_limits

from skdensity import GaussianKDE, GaussianMixtureGrad, find_modes
from skdensity._core import plan_blocks


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
    assert len(big.tasks) >= 4
    assert all(t.start % big.row_block == 0 for t in big.tasks)
    assert plan_blocks(5000, 3000, 100).tasks == [slice(0, 5000)]
    assert len(plan_blocks(50, 300, 100, n_jobs=2).tasks) == 1


def test_loky_processes_give_identical_results(data):
    # Results may change in the last bits with the number of BLAS threads
    # (a process-wide setting skdensity leaves alone): local and worker
    # processes are compared at one BLAS thread each.
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
    # OpenMP's); the local reference runs with one BLAS thread too, since
    # the last bits may depend on the number of BLAS threads.
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
