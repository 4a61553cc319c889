#!/usr/bin/env Rscript
# Reference fixtures for meta-regression (metareview/engine/subgroups.metareg, its R^2)
# and the permutation test (metareview/engine/permutation.permutest), computed with R's
# metafor.
#
# Rerun from the repository root (R >= 4, metafor 3.8.1, metadat, jsonlite):
#
#   Rscript tests/reference/make_fixtures_metareg.R
#
# It writes tests/reference/fixtures_metareg.json: {"meta": {...}, "specs": [...]}.
# Deterministic: C collation, fixed spec order, and the random permutation tests use
# set.seed through permutest's own `seed` argument; numbers at full double precision.
#
# Spec kinds and "expected" (metafor's names in brackets):
#   metareg    res <- rma(yi, vi, mods = ~ ..., method, test): coefficients (name,
#              estimate [beta], se, stat [zval], pval, ci_lb, ci_ub), qm [QM], qm_df
#              [QMdf[1]], qm_pval [QMp], q [QE], q_df [k - p], q_pval [QEp], tau2, i2
#              [I2], h2 [H2], r2 [R2], k
#   permutest  permutest(res, exact, iter, seed, progbar = FALSE): pval (per
#              coefficient), qm_pval [QMp], exact_count [exact.iter], exact (TRUE when the
#              test was exact: requested, or exact.iter <= iter). For random tests also
#              "orders": the permutations permutest used, as 1-based row orders of the
#              data (row i of permuted model b is data row orders[b][i]), recomputed here
#              by replaying permutest's draws (set.seed(seed), then sample(k) once per
#              permutation; the first permutation is replaced by the observed data). The
#              script checks the replay: refitting the models of those orders gives
#              permutest's own QM.perm.
# settings.mods lists the columns; settings.factors those entered as factor(col)
# (treatment coding, levels in C-locale order).
#
# Data (all real, published):
#   metadat dat.bcg          escalc(RR): ablat (absolute latitude), alloc (random,
#                            alternate, systematic), year
#   metadat dat.raudenbush1985  SMD as given: weeks (prior teacher-student contact)
#   metadat dat.hackshaw1998 log OR as given: design (case-control / cohort)
#   metadat dat.hine1989     escalc(RD): n1i (the treated arm's size, as a moderator
#                            whose model without it has tau2 = 0)

script_dir <- function() {
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 1L) dirname(normalizePath(f)) else file.path("tests", "reference")
}
OUT <- script_dir()
source(file.path(OUT, "fixture_common.R"))
suppressPackageStartupMessages(library(metadat))

num <- function(x) {
  if (is.null(x) || length(x) == 0L) return(NA_real_)
  unname(as.numeric(x))
}

bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg <- data.frame(study = as.character(bcg$trial), yi = c(bcg$yi), vi = c(bcg$vi),
                  ablat = bcg$ablat, alloc = bcg$alloc, year = bcg$year)
raud <- data.frame(study = as.character(dat.raudenbush1985$study),
                   yi = c(dat.raudenbush1985$yi), vi = c(dat.raudenbush1985$vi),
                   weeks = dat.raudenbush1985$weeks, setting = dat.raudenbush1985$setting)
hack <- data.frame(study = as.character(dat.hackshaw1998$study),
                   yi = c(dat.hackshaw1998$yi), vi = c(dat.hackshaw1998$vi),
                   design = dat.hackshaw1998$design)
hine <- escalc("RD", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.hine1989)
hine <- data.frame(study = as.character(hine$study), yi = c(hine$yi), vi = c(hine$vi),
                   n1i = hine$n1i)
DATA <- list(bcg = bcg, raud = raud, hack = hack, hine = hine)

formula_of <- function(mods, factors) {
  terms <- vapply(mods, function(m) if (m %in% factors) sprintf("factor(%s)", m) else m, "")
  as.formula(paste("~", paste(terms, collapse = " + ")))
}

# coefficient names as metareview writes them: factor(alloc)random -> allocrandom
coef_names <- function(res) sub("^factor\\((.*)\\)", "\\1", rownames(res$beta))

fit <- function(d, mods, factors, method, test) {
  rma(yi, vi, mods = formula_of(mods, factors), data = d, method = method, test = test)
}

data_of <- function(d, mods) {
  out <- list(study = d$study, yi = I(d$yi), vi = I(d$vi))
  for (m in mods) out[[m]] <- if (is.numeric(d[[m]])) I(as.numeric(d[[m]])) else d[[m]]
  out
}

metareg_spec <- function(id, dname, mods, factors, method, test, rows = NULL) {
  d <- DATA[[dname]]
  if (!is.null(rows)) d <- d[rows, ]
  .W$w <- character(0)
  res <- collect(fit(d, mods, factors, method, test))
  list(
    id = id, kind = "metareg", dataset = dname,
    data = full_precision(data_of(d, mods)),
    settings = list(method = method, test = test, mods = I(mods), factors = I(factors),
                    level = 95),
    expected = full_precision(list(
      k = res$k,
      coefficients = lapply(seq_len(res$p), function(j) full_precision(list(
        name = coef_names(res)[j], estimate = num(res$beta[j]), se = num(res$se[j]),
        stat = num(res$zval[j]), pval = num(res$pval[j]), ci_lb = num(res$ci.lb[j]),
        ci_ub = num(res$ci.ub[j])))),
      qm = num(res$QM), qm_df = res$QMdf[1], qm_pval = num(res$QMp),
      q = num(res$QE), q_df = res$k - res$p, q_pval = num(res$QEp),
      tau2 = num(res$tau2), i2 = num(res$I2), h2 = num(res$H2),
      r2 = if (is.null(res$R2)) NA_real_ else num(res$R2)
    )),
    warnings = I(.W$w)
  )
}

# the permutations permutest draws for a random test: it sorts the rows of X, then uses
# X[sample(k), ] in each iteration after set.seed(seed); as data-row orders
replay_orders <- function(res, iter, seed) {
  X <- as.data.frame(res$X)
  sorted <- do.call(order, X)
  set.seed(seed)
  t(vapply(seq_len(iter), function(i) sorted[sample(res$k)], integer(res$k)))
}

permutest_spec <- function(id, dname, mods, factors, method, test, exact, iter,
                           seed = NULL, rows = NULL) {
  d <- DATA[[dname]]
  if (!is.null(rows)) d <- d[rows, ]
  res <- fit(d, mods, factors, method, test)
  .W$w <- character(0)
  args <- list(res, exact = exact, iter = iter, progbar = FALSE)
  if (!is.null(seed)) args$seed <- seed
  pt <- collect(do.call(permutest, args))
  is_exact <- isTRUE(exact) || pt$exact.iter <= iter
  expected <- list(pval = I(num(pt$pval)), qm_pval = num(pt$QMp),
                   exact_count = num(pt$exact.iter), exact = is_exact)
  if (!is_exact) {
    orders <- replay_orders(res, iter, seed)
    # check the replay against permutest's own permutation distribution
    qm <- vapply(2:iter, function(b) {
      db <- d
      db[, mods] <- d[orders[b, ], mods]
      fit(db, mods, factors, method, test)$QM
    }, 0)
    stopifnot(isTRUE(all.equal(qm, pt$QM.perm[2:iter], tolerance = 1e-10)))
    orders[1, ] <- seq_len(res$k)
    expected$orders <- lapply(seq_len(iter), function(b) I(orders[b, ]))
  }
  list(
    id = id, kind = "permutest", dataset = dname,
    data = full_precision(data_of(d, mods)),
    settings = list(method = method, test = test, mods = I(mods), factors = I(factors),
                    exact = exact, iter = iter, seed = if (is.null(seed)) NA else seed,
                    level = 95),
    expected = full_precision(expected),
    warnings = I(.W$w)
  )
}

specs <- list()
add <- function(s) specs[[length(specs) + 1L]] <<- s

# meta-regression: one continuous moderator, a continuous + a factor, every estimator
for (method in c("REML", "DL", "FE", "ML", "PM", "EB", "SJ", "HE", "HS")) {
  for (test in c("z", "knha")) {
    add(metareg_spec(sprintf("bcg_ablat_alloc_%s_%s", method, test), "bcg",
                     c("ablat", "alloc"), "alloc", method, test))
  }
}
for (method in c("REML", "DL")) {
  for (test in c("z", "knha")) {
    add(metareg_spec(sprintf("bcg_ablat_%s_%s", method, test), "bcg", "ablat",
                     character(0), method, test))
    add(metareg_spec(sprintf("bcg_ablat_year_%s_%s", method, test), "bcg",
                     c("ablat", "year"), character(0), method, test))
    add(metareg_spec(sprintf("raud_weeks_%s_%s", method, test), "raud", "weeks",
                     character(0), method, test))
    add(metareg_spec(sprintf("hack_design_%s_%s", method, test), "hack", "design",
                     "design", method, test))
  }
}
# R^2 edge cases: tau2 of the model without moderators is 0 (R^2 = 0); moderators that
# explain all heterogeneity (tau2 = 0 with them: R^2 = 100)
add(metareg_spec("hine_n1i_REML_z", "hine", "n1i", character(0), "REML", "z"))
add(metareg_spec("bcg_ablat_alloc_FE_z_rows1to8", "bcg", c("ablat", "alloc"), "alloc",
                 "FE", "z", rows = 1:8))
add(metareg_spec("raud_weeks_setting_REML_z", "raud", c("weeks", "setting"), "setting",
                 "REML", "z"))

# permutation tests: exact (asked for, and because k!/prod(n_j!) <= iter), then random
add(permutest_spec("perm_bcg8_alloc_REML_z_exact", "bcg", "alloc", "alloc", "REML", "z",
                   exact = TRUE, iter = 1000, rows = 1:8))
add(permutest_spec("perm_bcg7_ablat_REML_knha_exact", "bcg", "ablat", character(0),
                   "REML", "knha", exact = TRUE, iter = 1000, rows = 1:7))
add(permutest_spec("perm_bcg7_ablat_DL_z_auto", "bcg", "ablat", character(0), "DL", "z",
                   exact = FALSE, iter = 6000, rows = 1:7))
add(permutest_spec("perm_bcg_ablat_alloc_REML_z_random", "bcg", c("ablat", "alloc"),
                   "alloc", "REML", "z", exact = FALSE, iter = 1000, seed = 1234))
add(permutest_spec("perm_bcg_ablat_REML_knha_random", "bcg", "ablat", character(0),
                   "REML", "knha", exact = FALSE, iter = 1000, seed = 42))
add(permutest_spec("perm_raud_weeks_DL_z_random", "raud", "weeks", character(0), "DL",
                   "z", exact = FALSE, iter = 1000, seed = 7))

out <- list(meta = versions("make_fixtures_metareg.R"), specs = specs)
write_fixture_json(out, file.path(OUT, "fixtures_metareg.json"))
cat("wrote", length(specs), "specs\n")
