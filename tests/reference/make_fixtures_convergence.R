# Reference values for meta-analyses where metafor's default Fisher scoring for tau^2
# (REML, ML, EB; threshold 1e-5, maxiter 100) does not converge. Found by simulation
# (synthetic two-arm trials, the design of benchmarks/pool_many.py: k ~ U{3..30}, mean log
# OR ~ N(-0.2, 0.4^2), tau ~ U(0, 0.5), arms ~ U{20..500}, control risk ~ U(0.05, 0.5)),
# with a fixed seed, so the run is deterministic. The expected answer is metafor's refit
#
#   rma(yi, vi, method = m, control = list(stepadj = 0.5, maxiter = 1000))
#
# ("how": "stepadj"). Where that refit fails too, the optimum of metafor's own (restricted)
# log-likelihood on [0, tau2.max] is located with optimize() (and tau2 = 0 compared), and
# metafor's Fisher scoring is restarted there: rma(..., control = list(tau2.init = opt))
# ("how": "tau2.init"). One hand-made table (3 studies, REML's likelihood flat near
# tau2 = 0.045 and its optimum at 0) is added to the simulated ones.
#
#   Rscript tests/reference/make_fixtures_convergence.R
#
# writes tests/reference/fixtures_convergence.json.
script_dir <- function() {
  arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  if (length(arg)) dirname(normalizePath(sub("^--file=", "", arg[1]))) else "tests/reference"
}
OUT <- script_dir()
source(file.path(OUT, "fixture_common.R"))

METHODS <- c("REML", "ML", "EB")
WANT <- 4      # failures to keep per method
MAX_SIMS <- 12000

simulate_one <- function() {
  k <- sample(3:30, 1)
  mu <- rnorm(1, -0.2, 0.4)
  tau <- runif(1, 0, 0.5)
  theta <- rnorm(k, mu, tau)
  p0 <- runif(k, 0.05, 0.5)
  p1 <- plogis(qlogis(p0) + theta)
  n1i <- sample(20:500, k, replace = TRUE)
  n2i <- sample(20:500, k, replace = TRUE)
  data.frame(study = paste0("s", seq_len(k)), ai = rbinom(k, n1i, p1), n1i = n1i,
             ci = rbinom(k, n2i, p0), n2i = n2i)
}

fails <- function(expr) {
  r <- tryCatch(expr, error = function(e) e)
  if (inherits(r, "error")) conditionMessage(r) else NULL
}

# metafor's fit at the optimum of its own log-likelihood, when even stepadj fails
restart_at_optimum <- function(es, method) {
  reml <- method == "REML"
  ll <- function(t2) as.numeric(logLik(rma(es$yi, es$vi, tau2 = t2, method = if (reml) "REML" else "ML")))
  upper <- max(100, 10 * var(es$yi))
  grid <- c(0, upper * 10^seq(-8, 0, length.out = 161))
  vals <- vapply(grid, ll, 0)
  j <- which.max(vals)
  lo <- grid[max(1, j - 1)]
  hi <- grid[min(length(grid), j + 1)]
  opt <- optimize(ll, c(lo, hi), maximum = TRUE, tol = 1e-12)
  t0 <- if (vals[1] >= opt$objective) 0 else opt$maximum
  rma(es$yi, es$vi, method = method, control = list(tau2.init = t0))
}

spec <- function(name, d, method, default_error) {
  .W$w <- character(0)
  es <- escalc("OR", ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i)
  how <- "stepadj"
  r <- tryCatch(
    collect(rma(es$yi, es$vi, method = method, control = list(stepadj = 0.5, maxiter = 1000))),
    error = function(e) NULL
  )
  if (is.null(r)) {
    how <- "tau2.init"
    r <- collect(restart_at_optimum(es, method))
  }
  list(
    name = name, measure = "OR", method = method, how = how, default_error = default_error,
    data = list(study = d$study, ai = I(as.double(d$ai)), n1i = I(as.double(d$n1i)),
                ci = I(as.double(d$ci)), n2i = I(as.double(d$n2i))),
    expected = full_precision(list(
      estimate = as.numeric(r$beta), se = r$se, tau2 = r$tau2, tau2_se = r$se.tau2,
      ci_lb = r$ci.lb, ci_ub = r$ci.ub, i2 = r$I2, h2 = r$H2, q = r$QE
    )),
    warnings = .W$w
  )
}

set.seed(20261206)
found <- setNames(integer(length(METHODS)), METHODS)
specs <- list()
for (i in seq_len(MAX_SIMS)) {
  d <- simulate_one()
  es <- escalc("OR", ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i)
  for (method in METHODS) {
    if (found[[method]] >= WANT) next
    err <- fails(suppressWarnings(rma(es$yi, es$vi, method = method)))
    if (!is.null(err) && grepl("did not converge", err)) {
      found[[method]] <- found[[method]] + 1L
      specs[[length(specs) + 1]] <- spec(sprintf("sim%05d_%s", i, method), d, method, err)
    }
  }
  if (all(found >= WANT)) break
}
cat("simulated", i, "meta-analyses; failures kept:", paste(names(found), found), "\n")

flat <- data.frame(study = c("S1", "S2", "S3"), ai = c(25, 4, 1397), n1i = c(37, 15, 2653),
                   ci = c(272, 12, 17), n2i = c(516, 27, 48))
es <- escalc("OR", ai = flat$ai, n1i = flat$n1i, ci = flat$ci, n2i = flat$n2i)
err <- fails(rma(es$yi, es$vi, method = "REML"))
specs[[length(specs) + 1]] <- spec("flat_three_REML", flat, "REML", err)

write_fixture_json(
  list(meta = c(versions("make_fixtures_convergence.R"), list(simulated = i)), specs = specs),
  file.path(OUT, "fixtures_convergence.json")
)
cat("wrote", length(specs), "specs\n")
