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
        # ks's own 1-D selectors follow other algorithms (hpi is KernSmooth's
        # binned dpik with a robust scale, hscv is binned, hlscv calls
        # stats::bw.ucv); stored as squared bandwidths for information.
        v <- drop(x)
        for (r in 0:2) add(name, "hns_1d", r, FALSE, hns(v, deriv.order = r)^2)
        add(name, "hpi_1d", 0, FALSE, hpi(v)^2)
        add(name, "hscv_1d", 0, FALSE, hscv(v)^2)
        add(name, "hlscv_1d", 0, FALSE, suppressWarnings(hlscv(v))^2)
    }
}

out <- list(
    ks_version = as.character(packageVersion("ks")),
    r_version = R.version.string,
    records = records
)
write(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
      "tests/data/ks_bandwidths.json")
