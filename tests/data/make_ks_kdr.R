# Reference density ridges from R's ks package (kdr, subspace-constrained
# mean shift), for tests/test_ridges.py.
#
# Run from the repository root:
#     Rscript tests/data/make_ks_kdr.R
# It writes tests/data/ks_kdr_faithful.csv and tests/data/ks_kdr_faithful.json
# (about two minutes). The Python test suite reads only these files and never
# needs R.
#
# Data: Old Faithful (skdensity/data/faithful.csv), each column divided by its
# standard deviation (what kdr's pre = TRUE does), so that one isotropic
# bandwidth suits both; H = 0.3^2 I in those units. Starts: the data points.
#
# Two end points per start:
#   kdr_*      ks::kdr as a user calls it (exact, unbinned Hessian on a
#              401 x 401 grid; no density cutoff, no segmentation).
#   full_*     the same iteration (ks:::kdr.base) on a Hessian grid computed
#              with kernel support 20 bandwidths instead of kdde's default
#              3.7, on an 801 x 801 grid: kdr's Hessian is that of a kernel
#              truncated at 3.7 bandwidths, off by about 0.3% (see the JSON's
#              hessian_error), which moves its ridge; this column shows what
#              ks's algorithm gives without the truncation.
# ks's iteration uses the eigenvectors of the Hessian of f (skdensity's those
# of log f): the two have the same ridge points wherever the eigenvalue order
# of both agrees, but the paths from a start differ, so the test compares the
# ridge sets, not start by start.
suppressPackageStartupMessages(library(ks))
suppressPackageStartupMessages(library(jsonlite))

x <- as.matrix(read.csv("skdensity/data/faithful.csv"))
x <- sweep(x, 2, apply(x, 2, sd), "/")
h <- 0.3
H <- diag(h^2, 2)
tol.iter <- 1e-10
max.iter <- 5000

fit <- kdr(x = x, y = x, H = H, p = 1, max.iter = max.iter, tol.iter = tol.iter,
           segment = FALSE, binned = FALSE, gridsize = c(401, 401),
           density.cutoff = 0, pre = FALSE)
stopifnot(nrow(fit$y) == nrow(x), max(abs(fit$y - x)) == 0)

# kdr's default grid range, and the Hessian grid without kernel truncation.
tol.H <- 3.7 * diag(H)
xmin <- apply(x, 2, min) - tol.H
xmax <- apply(x, 2, max) + tol.H
fhat2 <- kdde(x = x, H = H, deriv.order = 2, xmin = xmin, xmax = xmax,
              binned = FALSE, gridsize = c(801, 801), supp = 20)
full <- ks:::kdr.base(x = x, fhat2 = fhat2, y = x, H = H, tol.iter = tol.iter,
                      max.iter = max.iter, p = 1)

# How far kdr's Hessian (support 3.7) is from the exact one at one point.
exact_hessian <- function(y) {
    d <- sweep(x, 2, y)
    w <- exp(-rowSums(d^2) / (2 * h^2)) / (2 * pi * h^2) / nrow(x)
    crossprod(d * w, d) / h^4 - sum(w) * diag(2) / h^2
}
y <- x[1, , drop = FALSE]
truncated <- kdde(x = x, H = H, deriv.order = 2, xmin = xmin, xmax = xmax,
                  binned = FALSE, gridsize = c(401, 401))
exact <- exact_hessian(drop(y))
err <- max(abs(matrix(predict(truncated, x = y), 2) - exact)) / max(abs(exact))

out <- data.frame(
    start_eruptions = x[, 1], start_waiting = x[, 2],
    kdr_eruptions = fit$end.points[, 1], kdr_waiting = fit$end.points[, 2],
    full_eruptions = full$end.points[, 1], full_waiting = full$end.points[, 2]
)
write.csv(format(out, digits = 17), "tests/data/ks_kdr_faithful.csv",
          row.names = FALSE, quote = FALSE)
writeLines(toJSON(list(
    ks_version = as.character(packageVersion("ks")),
    R_version = R.version.string,
    data = "faithful.csv, columns divided by their standard deviations",
    H = H, p = 1, tol_iter = tol.iter, max_iter = max.iter,
    kdr_gridsize = 401, full_gridsize = 801, full_supp = 20,
    hessian_error = err
), auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/data/ks_kdr_faithful.json")
