# Reference bandwidth matrices from R's ks package (exact, binned = FALSE).
#
# Run from the repository root:
#     Rscript tests/data/make_ks_bandwidths.R
# It writes tests/data/correlated3d.csv (once; generated from a fixed seed)
# and tests/data/ks_bandwidths.json. The Python test suite reads only these
# files and never needs R.
suppressPackageStartupMessages(library(ks))
suppressPackageStartupMessages(library(jsonlite))

faithful_csv <- "skdensity/data/faithful.csv"
correlated_csv <- "tests/data/correlated3d.csv"

if (!file.exists(correlated_csv)) {
    # A 3-D Gaussian sample with correlations 0.6, -0.3 and 0.2, plus a
    # skewed third coordinate so that the selectors differ from normal scale.
    set.seed(20240613)
    n <- 200
    S <- matrix(c(1, 0.6, -0.3, 0.6, 2, 0.2, -0.3, 0.2, 0.5), 3, 3)
    z <- matrix(rnorm(3 * n), n, 3) %*% chol(S)
    z[, 3] <- z[, 3] + 0.3 * z[, 1]^2
    colnames(z) <- c("x1", "x2", "x3")
    write.csv(round(z, 6), correlated_csv, row.names = FALSE)
}

faithful2 <- as.matrix(read.csv(faithful_csv))
correlated <- as.matrix(read.csv(correlated_csv))
datasets <- list(
    faithful = faithful2,
    faithful_eruptions = faithful2[, 1, drop = FALSE],
    faithful_waiting = faithful2[, 2, drop = FALSE],
    correlated3d = correlated
)

records <- list()
add <- function(data, selector, deriv_order, diagonal, expr) {
    H <- tryCatch(suppressWarnings(as.matrix(expr)), error = function(e) conditionMessage(e))
    rec <- list(data = data, selector = selector, deriv_order = deriv_order,
                diagonal = diagonal)
    if (is.character(H)) rec$error <- H else rec$H <- unname(H)
    records[[length(records) + 1]] <<- rec
}

for (name in names(datasets)) {
    x <- datasets[[name]]
    d <- ncol(x)
    for (r in 0:2) {
        add(name, "normal_scale", r, FALSE, Hns(x, deriv.order = r))
        add(name, "plugin", r, FALSE, Hpi(x, binned = FALSE, deriv.order = r))
        add(name, "scv", r, FALSE, Hscv(x, binned = FALSE, deriv.order = r))
        if (d > 1) {
            add(name, "plugin", r, TRUE, Hpi.diag(x, binned = FALSE, deriv.order = r))
            add(name, "scv", r, TRUE, Hscv.diag(x, binned = FALSE, deriv.order = r))
        }
    }
    add(name, "lscv", 0, FALSE, Hlscv(x, binned = FALSE))
    if (d > 1) add(name, "lscv", 0, TRUE, Hlscv.diag(x, binned = FALSE))
    if (d == 1) {
        # ks's own 1-D selectors with their defaults (hpi is KernSmooth's
        # binned dpik with a robust scale, hscv is binned, hlscv calls
        # stats::bw.ucv); squared bandwidths. Exact versions further down.
        v <- drop(x)
        for (r in 0:2) add(name, "hns_1d", r, FALSE, hns(v, deriv.order = r)^2)
        add(name, "hpi_1d", 0, FALSE, hpi(v)^2)
        add(name, "hscv_1d", 0, FALSE, hscv(v)^2)
        add(name, "hlscv_1d", 0, FALSE, suppressWarnings(hlscv(v))^2)
    }
}

# ks's own 1-D selectors, which the Python selectors follow for one feature
# (exact versions; appended after the records above, which stay as they
# were). Each record keeps the R call that made it; values are h^2.
add_1d <- function(data, selector, r, call, h2, binning_error = NULL) {
    rec <- list(data = data, selector = selector, deriv_order = r,
                diagonal = FALSE, call = call, H = matrix(h2, 1, 1))
    if (!is.null(binning_error)) rec$binning_error <- binning_error
    records[[length(records) + 1]] <<- rec
}

# dpik (hpi for r = 0) always bins. Its value on gridsize 2e5 is kept, with
# the relative change from 1e5 as the binning error (linear binning errs by
# O(grid step^2), so the error at 2e5 is about a third of that change).
fine_grid <- function(h_of_gridsize) {
    h2 <- sapply(c(1e5, 2e5), function(M) h_of_gridsize(M)^2)
    err <- abs(h2[1] - h2[2]) / h2[2]
    if (err > 1e-7) stop("binning error ", err, " too large for a 1e-6 test")
    list(h2 = h2[2], err = err)
}

# hscv with the tolerance of its Brent search (R's optimise, by default
# eps^(1/4) = 1.2e-4 in data units) tightened, nothing else changed.
hscv_tight <- hscv
environment(hscv_tight) <- list2env(
    list(optimise = function(f, interval) stats::optimise(f, interval, tol = 1e-12)),
    parent = asNamespace("ks"))

for (name in names(datasets)) {
    if (ncol(datasets[[name]]) != 1) next
    v <- drop(datasets[[name]])
    # truncate = FALSE bins every sample. ks's hpi calls dpik with
    # KernSmooth's default truncate = TRUE, whose binning drops the
    # sample(s) at the maximum whenever rounding puts them past the last
    # grid point: both records are kept.
    fine <- fine_grid(function(M) KernSmooth::dpik(v, gridsize = M, truncate = FALSE))
    add_1d(name, "hpi_1d", 0, "KernSmooth::dpik(x, gridsize = 2e5, truncate = FALSE)",
           fine$h2, fine$err)
    fine <- fine_grid(function(M) hpi(v, bgridsize = M))
    add_1d(name, "hpi_1d", 0, "hpi(x, bgridsize = 2e5)", fine$h2, fine$err)
    for (r in 1:2)
        add_1d(name, "hpi_1d", r, sprintf("hpi(x, binned = FALSE, deriv.order = %d)", r),
               hpi(v, binned = FALSE, deriv.order = r)^2)
    add_1d(name, "hscv_1d", 0, "hscv(x, binned = FALSE)", hscv(v, binned = FALSE)^2)
    add_1d(name, "hscv_1d", 0, "hscv(x, binned = FALSE) with optimise(tol = 1e-12)",
           hscv_tight(v, binned = FALSE)^2)
    add_1d(name, "hlscv_1d", 0, "hlscv(x, binned = FALSE, bw.ucv = FALSE)",
           suppressWarnings(hlscv(v, binned = FALSE, bw.ucv = FALSE))^2)
}

out <- list(
    ks_version = as.character(packageVersion("ks")),
    r_version = R.version.string,
    records = records
)
write(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
      "tests/data/ks_bandwidths.json")
