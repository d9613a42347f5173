"""Block and thread plumbing of the core: block plans within
``working_memory``, the BLAS limiter, the parallel map over row chunks and the
output arrays."""

import functools
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from ._compat import (
    JOBLIB_LOCAL_BACKENDS,
    Parallel,
    ThreadingBackend,
    delayed,
    get_active_backend,
    get_config,
)

#: Target size in bytes of one block of kernel terms (query rows x
#: components). The block is written by one matrix product, exponentiated in
#: place and read by a second matrix product; at this size it stays in a
#: core's L2 cache across the three passes, and NumPy's per-call overhead is
#: still negligible (score_samples and gradient at n = m = 10^4, d = 2 and 5,
#: and on uniform 2-D data at n = 3x10^4: 1 MiB blocks 10-30% faster than
#: 4 MiB and than 512 KiB, measured on a 2-core machine with 2 MiB of L2).
#: ``working_memory`` is an upper bound, not a target: filling it would push
#: every pass out to main memory.
_CACHE_BLOCK_BYTES = 2**20

#: Fewest query rows a block is given before components are split into blocks.
_MIN_BLOCK_ROWS = 32

#: Chunks handed to each joblib worker, for load balance.
_TASKS_PER_WORKER = 2

#: Below this many bytes of cells (about a millisecond of work) a computation
#: runs in one chunk whatever ``n_jobs`` is: starting workers would cost more
#: than they save.
_MIN_PARALLEL_BYTES = 2**23


def working_memory_bytes():
    """Return sklearn's ``working_memory`` setting in bytes."""
    return int(get_config()["working_memory"] * 2**20)


@dataclass(frozen=True)
class BlockPlan:
    """How an ``n_rows x n_cols`` computation is cut up.

    Attributes
    ----------
    row_block, col_block : int
        Rows and columns of one block of cells (the cache-sized unit);
        ``row_block`` is a multiple of ``ROW_ALIGN``.
    tasks : tuple of slice
        Row chunks, the unit of work of a joblib worker, each starting at a
        multiple of ``row_block``: blocks are cut at the same rows whatever
        ``n_jobs`` is, so results do not depend on it.
    n_workers : int
        Workers to run the tasks on (1 for computations too small to split).
    align : int
        Query blocks are padded to a multiple of this many rows:
        ``ROW_ALIGN`` for a computation of at least that many rows, else 1.
    """

    row_block: int
    col_block: int
    tasks: tuple
    n_workers: int = 1
    align: int = 1

    def padded(self, n):
        """Rows a block of ``n`` queries is computed with."""
        return -(-n // self.align) * self.align


#: Query blocks of a computation of at least this many rows are padded to a
#: multiple of it. BLAS kernels treat a partial tile of rows with other code
#: than a full one, which can change the last bit of a row's result; with
#: full tiles only, each row's result depends on that row alone (not on its
#: position, the chunking, ``n_jobs`` or the number of threads). A
#: computation of fewer rows is not padded: for one query against many
#: kernels the padding would be 15/16 of the arithmetic (3-4x the time of a
#: single query at n = 10^4, measured). Its rows then agree with the same
#: queries in a larger computation to the last bit or two, not bit for bit.
ROW_ALIGN = 16


#: Most multiply-adds (rows x columns x inner dimension) of one matrix
#: product the core hands to BLAS; larger ones go in slabs of rows
#: (:func:`serial_matmul`). Up to this size OpenBLAS computes a product on
#: the calling thread (its threshold ``SMP_THRESHOLD_MIN x
#: GEMM_MULTITHREAD_THRESHOLD`` = 65536 x 4 in its default build,
#: ``interface/gemm.c``; ``gemv`` threads only from 460800 cells) and, on
#: AVX-512 machines, always in its small-matrix kernel (up to 100^3,
#: ``kernel/x86_64/dgemm_small_kernel_permit_skylakex.c``). OpenBLAS has
#: one thread pool for the whole process, which a call cannot limit for
#: itself alone: with parallel workers, threaded products would queue for
#: that pool (two workers ran 1.7-2.2x slower than one, measured), and a
#: row's last bit could depend on how many rows share its product. Slabs
#: are no slower on one thread (blocks of 512 x 1024 terms: 0.6-0.75x the
#: time of one product, measured).
SERIAL_PRODUCT = 2**18


def serial_matmul(A, B, out):
    """``out = A @ B`` (``B`` a matrix or a vector) in slabs of rows.

    Each slab is a multiple of ``ROW_ALIGN`` rows and a product of at most
    ``SERIAL_PRODUCT`` multiply-adds, or ``ROW_ALIGN`` rows if those exceed
    it (callers cap the width: :func:`plan_blocks`'s ``max_cols``).
    """
    m, k = A.shape
    n = B.shape[1] if B.ndim == 2 else 1
    step = SERIAL_PRODUCT // max(1, n * k)
    step = max(ROW_ALIGN, step - step % ROW_ALIGN)
    if step >= m:
        return np.matmul(A, B, out=out)
    for r0 in range(0, m, step):
        np.matmul(A[r0 : r0 + step], B, out=out[r0 : r0 + step])
    return out


def plan_blocks(
    n_rows,
    n_cols,
    bytes_per_row,
    bytes_per_col=0,
    bytes_per_cell=8,
    n_jobs=None,
    reserved=0,
    max_cols=None,
    max_rows=None,
):
    """Cut an ``n_rows x n_cols`` computation into cache-sized blocks.

    A block of ``r x c`` cells (float64 kernel terms, or whatever a cell of
    ``bytes_per_cell`` bytes holds) is sized to about ``_CACHE_BLOCK_BYTES``
    (or a quarter of ``working_memory`` if that is smaller); columns are
    split only when a block of all columns would hold fewer than
    ``_MIN_BLOCK_ROWS`` rows. Row chunks (tasks) are then made as large as
    ``working_memory`` allows, counting ``bytes_per_row`` for each of their
    rows and ``bytes_per_col`` for each column of a block, so that the extra
    memory of the whole computation stays within ``working_memory``.

    Parameters
    ----------
    n_rows, n_cols : int
        Number of query rows and of mixture components.
    bytes_per_row : int
        Bytes a task needs per query row (accumulators, outputs).
    bytes_per_col : int, default=0
        Bytes a block needs per component besides its cells.
    bytes_per_cell : int, default=8
        Bytes of one (row, column) cell of a block.
    n_jobs : int, default=None
        When more than one job runs, rows are split into at least
        ``_TASKS_PER_WORKER`` chunks per worker (unless the whole computation
        is smaller than ``_MIN_PARALLEL_BYTES``).
    reserved : int, default=0
        Bytes of ``working_memory`` already spoken for (arrays the caller
        holds throughout).
    max_cols, max_rows : int, default=None
        Most columns and rows of a block (for products that must stay
        serial, see ``SERIAL_PRODUCT``); rows are still at least
        ``ROW_ALIGN``.

    Returns
    -------
    BlockPlan
    """
    n_workers = 1
    if n_rows * n_cols * bytes_per_cell >= _MIN_PARALLEL_BYTES:
        n_workers = effective_n_jobs(n_jobs)
    budget = max(working_memory_bytes() - reserved, _CACHE_BLOCK_BYTES // 4)
    sizes = (n_rows, n_cols, bytes_per_row, bytes_per_col, bytes_per_cell)
    return _cut(sizes, budget, (max_cols, max_rows), n_workers)


@functools.lru_cache(maxsize=256)
def _cut(sizes, budget, limits, n_workers):
    """The plan of :func:`plan_blocks` for a memory ``budget`` and a number
    of workers (kept: repeated small calls plan the same blocks)."""
    n_rows, n_cols, bytes_per_row, bytes_per_col, bytes_per_cell = sizes
    max_cols, max_rows = limits
    cells = max(1, min(_CACHE_BLOCK_BYTES, budget // 4) // bytes_per_cell)
    col_block = max(1, min(n_cols, cells // _MIN_BLOCK_ROWS))
    col_block = min(col_block, max(1, budget // 4 // max(1, bytes_per_col)))
    if max_cols is not None:
        col_block = max(1, min(col_block, max_cols))
    row_block = min(max(1, cells // col_block), n_rows + ROW_ALIGN - 1)
    # A task holds at least one block of rows: their per-row bytes (which
    # grow like d^2 for Hessians) must fit the budget too.
    col_bytes = col_block * bytes_per_col
    row_block = min(row_block, (budget - col_bytes) // max(1, bytes_per_row))
    if max_rows is not None:
        row_block = min(row_block, max_rows)
    row_block = max(ROW_ALIGN, row_block - row_block % ROW_ALIGN)
    fixed = col_block * (bytes_per_cell * row_block + bytes_per_col)
    # Workers run at once: no more than can each hold a block and its rows
    # within the budget together, and each task gets its share.
    n_workers = max(1, min(n_workers, budget // (fixed + row_block * bytes_per_row)))
    task_rows = max(1, (budget // n_workers - fixed) // max(1, bytes_per_row))
    task_rows = max(row_block, task_rows - task_rows % row_block)
    if n_workers > 1:
        n_blocks = -(-n_rows // row_block)
        per_task = max(1, -(-n_blocks // (_TASKS_PER_WORKER * n_workers)))
        task_rows = min(task_rows, per_task * row_block)
    # The slices of sklearn's gen_batches, without its argument validation
    # (which inspects signatures: 0.1 ms, more than a one-query call's work).
    starts = range(0, n_rows, task_rows)
    tasks = tuple(slice(i, min(i + task_rows, n_rows)) for i in starts)
    align = ROW_ALIGN if n_rows >= ROW_ALIGN else 1
    return BlockPlan(row_block, col_block, tasks or (slice(0, 0),), n_workers, align)


def effective_n_jobs(n_jobs):
    """Number of workers for ``n_jobs``.

    An explicit ``n_jobs`` is joblib's (``-1`` all processors, ``-2`` all but
    one, ...). ``None`` means: the ``n_jobs`` of
    :func:`joblib.parallel_config` if one is set; the backend's own count
    under a backend of another library (dask's: its workers' threads);
    otherwise (joblib's own backends) 1 inside a worker of one of the core's
    own parallel maps (no nested pools), else as many as the process's BLAS
    would use, threadpoolctl's current limit, so that a user's
    :func:`threadpoolctl.threadpool_limits` and the limit joblib gives its
    process-based workers are respected.
    """
    from joblib import effective_n_jobs as _effective

    if n_jobs is None:
        # prefer/require given: joblib would otherwise fall back to threads
        # with n_jobs=1 whenever the configuration prefers threads without
        # naming a backend, which is what joblib's own effective_n_jobs(None)
        # reports inside parallel_config(n_jobs=2, prefer="threads").
        backend, configured = get_active_backend(prefer="processes", require=None)
        if configured is None and isinstance(backend, JOBLIB_LOCAL_BACKENDS):
            return 1 if getattr(_worker, "active", False) else _blas_threads()
        n_jobs = configured
    return _effective(n_jobs)


#: Marks the core's own worker threads (see :func:`for_each_row_chunk`).
_worker = threading.local()


@functools.cache
def _blas_controllers():
    """threadpoolctl's controllers of the BLAS libraries loaded with NumPy
    and SciPy (found once: scanning the loaded libraries takes about a
    millisecond; the thread counts are read afresh on every call)."""
    return ThreadpoolController().select(user_api="blas").lib_controllers


def _blas_threads():
    """The BLAS thread limit in force now (the smallest over the loaded BLAS
    libraries, at least 1; 1 if none is found)."""
    counts = [lib.num_threads for lib in _blas_controllers()]
    return max(1, min(counts, default=1))


@functools.cache
def _thread_local_blas_setters():
    """Functions setting the BLAS thread count of the calling thread alone.

    Only MKL has one, ``MKL_Set_Num_Threads_Local``: it returns the thread's
    previous setting (0 meaning "the process-wide one"), which restores it.
    OpenBLAS built with pthreads, as in NumPy's and SciPy's wheels, has one
    thread pool for the whole process: its ``openblas_set_num_threads`` and,
    despite the name, ``openblas_set_num_threads_local`` (0.3.27 and later)
    change the count every thread sees (measured with OpenBLAS 0.3.30 and
    0.3.31). BLIS's setting is process-wide too, and OpenBLAS built on
    OpenMP mishandles per-thread limits before 0.3.34 (threadpoolctl's
    notes). Those libraries are left alone. Computed once: the BLAS
    libraries are loaded with NumPy and SciPy, before any skdensity call.
    """
    mkl = ThreadpoolController().select(internal_api="mkl").lib_controllers
    return tuple(
        lib.dynlib.MKL_Set_Num_Threads_Local
        for lib in mkl
        if hasattr(lib.dynlib, "MKL_Set_Num_Threads_Local")
    )


@contextmanager
def single_threaded_blas():
    """Run BLAS on one thread in the calling thread, where that is local.

    The core calls BLAS on cache-sized blocks, thousands of times per call:
    a multi-threaded BLAS gains nothing there, and with ``n_jobs`` workers
    it would oversubscribe the cores. But a call must change nothing that
    other threads see or that outlives it (a limit set by the user in
    another thread included), so the limit is set only through a
    thread-local API (MKL's), and the calling thread's previous setting is
    restored on exit, also on an exception or ``KeyboardInterrupt``. With a
    process-wide thread pool (OpenBLAS, BLIS) nothing is changed: BLAS then
    uses the threads the process is configured for, the same in every
    thread, so results do not depend on the calling thread; users who run
    ``n_jobs`` workers may limit BLAS themselves with
    :func:`threadpoolctl.threadpool_limits`.
    """
    changed = []
    try:
        for set_local in _thread_local_blas_setters():
            changed.append((set_local, set_local(1)))
        yield
    finally:
        for set_local, previous in reversed(changed):
            set_local(previous)


def for_each_row_chunk(func, X, row_slices, store, n_jobs=None):
    """Call ``store(s, func(X[s]))`` for each row slice ``s``, in order.

    With more than one job, ``func`` runs in joblib workers: threads are
    preferred (NumPy and BLAS release the GIL), and a backend set with
    :func:`joblib.parallel_config` (for example ``"dask"``) takes precedence.
    When the backend is joblib's threading one, the chunks go to a thread
    pool directly: the same threads, without joblib's result polling, which
    adds about 10 ms to every call; at most one chunk beyond the running
    ones is submitted ahead, so memory stays as planned. Results are stored
    in order as they arrive; if storing or a chunk raises
    (``KeyboardInterrupt`` included), chunks not yet started are cancelled
    and the call returns without waiting for the running ones. The calling
    thread runs under :func:`single_threaded_blas` (workers' threads do not
    inherit it: the core enters it inside ``func``).
    """
    n_workers = effective_n_jobs(n_jobs)
    with single_threaded_blas():
        if n_workers == 1 or len(row_slices) == 1:
            for s in row_slices:
                store(s, func(X[s]))
            return
        backend, _ = get_active_backend(prefer="threads")
        if isinstance(backend, ThreadingBackend):
            n_threads = min(n_workers, len(row_slices))
            pool = ThreadPoolExecutor(n_threads, initializer=_mark_worker)
            # At most one chunk beyond those running is submitted ahead:
            # finished results wait for their turn to be stored, and the
            # workers' memory is what the plan budgeted.
            pending = deque()
            try:
                for s in row_slices:
                    pending.append((s, pool.submit(func, X[s])))
                    if len(pending) > n_threads:
                        done, future = pending.popleft()
                        store(done, future.result())
                while pending:
                    done, future = pending.popleft()
                    store(done, future.result())
            except BaseException:
                # An interrupt returns at once: the running chunks finish
                # on their own and their results are dropped.
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown()
            return
        results = Parallel(n_jobs=n_workers, prefer="threads", return_as="generator")(
            delayed(func)(X[s]) for s in row_slices
        )
        for s, result in zip(row_slices, results, strict=True):
            store(s, result)


def _mark_worker():
    _worker.active = True


def empty_outputs(m, d, order):
    """Uninitialised ``(log f, gradient, Hessian)`` arrays for ``m`` queries,
    ``None`` beyond ``order``: the one output allocator of the package."""
    return (
        np.empty(m),
        np.empty((m, d)) if order >= 1 else None,
        np.empty((m, d, d)) if order >= 2 else None,
    )


def store_rows(out, rows, values):
    """Write ``values`` (a triple as :func:`empty_outputs`) into ``out`` at
    ``rows``, skipping the ``None`` entries."""
    for target, value in zip(out, values, strict=True):
        if target is not None:
            target[rows] = value
