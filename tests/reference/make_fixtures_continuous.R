#!/usr/bin/env Rscript
# Reference fixtures for continuous and generic inverse-variance outcomes
# (metareview/effects_continuous.py through pooling, subgroups, sensitivity, smallstudy),
# computed with R's metafor.
#
# Rerun from the repository root (R >= 4, metafor 3.8.1, metadat, jsonlite):
#
#   Rscript tests/reference/make_fixtures_continuous.R
#
# It writes tests/reference/fixtures_continuous.json: {"meta": {...}, "specs": [...]}.
# Deterministic (no random numbers, no dates, C collation, fixed spec order); numbers at
# full double precision, NA as null.
#
# Layouts (spec$settings$layout) and how metafor computes yi/vi from spec$data:
#   continuous  escalc(measure = MD|SMD|ROM, m1i, sd1i, n1i, m2i, sd2i, n2i) with
#               metafor's default vtype "LS" (SMD: Hedges' g, exact .cmicalc correction)
#   mean        escalc(measure = "MN", mi, sdi, ni)
#   generic     rma(yi, sei = sei) or rma(yi, vi) as given
#   natural     a ratio on the natural scale with its CI: yi = log(estimate),
#               sei = (log(ci_ub) - log(ci_lb)) / (2 qnorm(1 - (1 - level/100)/2));
#               metafor 3.8.1 has no conv.wald(), so this is the formula of the Cochrane
#               Handbook (6.3.2) and RevMan, applied here in R.
# Spec kinds and "expected" (metafor's names in brackets):
#   pool      rma(yi, vi, method, test, level): the fields of make_fixtures.R's pool specs
#             (estimate, se, ci, stat, pval, df, pi, tau2 [+ se, Q-profile CI], i2, h2
#             [+ CIs], q, back = predict(transf = exp) for ROM/OR/RR, identity otherwise)
#             and studies (yi, vi, weight in percent)
#   subgroup  per-level rma fits, test_between_fe (QM of ~factor(g), FE) and
#             test_between_re (QE of rma(est, sei = se, method = "FE") over the levels)
#   metareg   rma(yi, vi, mods = ~ cols): coefficients, QM, tau2, I2, H2, QE
#   leave1out leave1out(res, transf): estimate, se, stat, pval, ci, q, q_pval, tau2, i2,
#             h2 and back (estimate, ci)
#   regtest / ranktest / trimfill   as make_fixtures_smallstudy.R
#
# Data (all real, published):
#   metadat dat.normand1999  (MD, SMD; arm 1 alone for MN) -- covariate size =
#             "large" when n1i + n2i >= 100, else "small" (derived here, for subgroups)
#   metadat dat.curtis1998   (ROM; covariates fungrp, time, xtrt; study = id)
#   metadat dat.bcg          escalc(RR) given as yi/sei and as yi/vi (GEN), and as a
#             natural-scale RR with its 95% CI rounded to 2 decimals as papers print it;
#             escalc(OR) likewise as a natural-scale OR (covariates alloc, ablat, year)
#   Fleiss (1993) "Mental Health Treatment versus Control" (5 studies, mean/SD/n), the
#             continuous outcome of ../shared/revman/Fleiss1993.rm5 (copied below; the
#             script checks the copy against the file when it is there), as SMD and MD;
#             RevMan's own fixed-effect MD result from Fleiss1993_CR.csv is kept in
#             expected$revman of the MD spec.

script_dir <- function() {
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 1L) dirname(normalizePath(f)) else file.path("tests", "reference")
}
OUT <- script_dir()
REPO <- normalizePath(file.path(OUT, "..", ".."))
source(file.path(OUT, "fixture_common.R"))
suppressPackageStartupMessages(library(metadat))

num <- function(x) {
  if (is.null(x) || length(x) == 0L) return(NA_real_)
  x <- unname(c(x))
  if (length(x) != 1L) stop("num(): expected a scalar")
  as.numeric(x)
}
vec <- function(x) I(unname(as.numeric(x)))
chr <- function(x) I(as.character(x))

LOG_MEASURES <- c("ROM", "OR", "RR", "HR")
FE_METHODS <- c("FE", "EE", "CE")

# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------

nd <- dat.normand1999
normand <- list(study = chr(nd$source), m1i = vec(nd$m1i), sd1i = vec(nd$sd1i),
                n1i = vec(nd$n1i), m2i = vec(nd$m2i), sd2i = vec(nd$sd2i),
                n2i = vec(nd$n2i),
                size = chr(ifelse(nd$n1i + nd$n2i >= 100, "large", "small")))
normand_mn <- list(study = chr(nd$source), mi = vec(nd$m1i), sdi = vec(nd$sd1i),
                   ni = vec(nd$n1i))

cu <- dat.curtis1998
curtis <- list(study = chr(cu$id), m1i = vec(cu$m1i), sd1i = vec(cu$sd1i),
               n1i = vec(cu$n1i), m2i = vec(cu$m2i), sd2i = vec(cu$sd2i),
               n2i = vec(cu$n2i), fungrp = chr(cu$fungrp), time = vec(cu$time),
               xtrt = chr(cu$xtrt))

bcg_rr <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg_or <- escalc(measure = "OR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg_cov <- list(alloc = chr(dat.bcg$alloc), ablat = vec(dat.bcg$ablat),
                year = vec(dat.bcg$year))
bcg_sei <- c(list(study = chr(paste(dat.bcg$author, dat.bcg$year)), yi = vec(bcg_rr$yi),
                  sei = vec(sqrt(bcg_rr$vi))), bcg_cov)
bcg_vi <- c(list(study = chr(paste(dat.bcg$author, dat.bcg$year)), yi = vec(bcg_rr$yi),
                 vi = vec(bcg_rr$vi)), bcg_cov)
natural <- function(es) {
  z <- qnorm(0.975)
  list(study = chr(paste(dat.bcg$author, dat.bcg$year)), estimate = vec(round(exp(es$yi), 2)),
       ci_lb = vec(round(exp(es$yi - z * sqrt(es$vi)), 2)),
       ci_ub = vec(round(exp(es$yi + z * sqrt(es$vi)), 2)))
}
bcg_nat_rr <- c(natural(bcg_rr), bcg_cov)
bcg_nat_or <- c(natural(bcg_or), bcg_cov)

# Fleiss (1993), continuous outcome of Fleiss1993.rm5 (CONT_DATA: MEAN/SD/TOTAL 1 and 2)
fleiss <- list(study = chr(c("Davis", "Florell", "Gruen", "Hart", "Wilson")),
               m1i = vec(c(5.0, 4.9, 22.5, 12.5, 6.5)),
               sd1i = vec(c(4.7, 1.71, 3.44, 1.47, 0.76)),
               n1i = vec(c(13, 30, 35, 20, 8)),
               m2i = vec(c(6.5, 6.1, 24.9, 12.3, 7.38)),
               sd2i = vec(c(3.8, 2.3, 10.65, 1.66, 1.41)),
               n2i = vec(c(13, 50, 35, 20, 8)))
# RevMan 5.0.23's fixed-effect inverse-variance MD (Fleiss1993_CR.csv, outcome 1.2)
revman_md <- list(estimate = -0.70938839, ci_lb = -1.25848502, ci_ub = -0.16029176,
                  q = 5.66012379, q_pval = 0.22600895, i2 = 29.33016758, z = 2.53211477,
                  pval = 0.01133769,
                  study_estimate = vec(c(-1.5, -1.2, -2.4, 0.2, -0.88)),
                  study_se = vec(c(1.67630546, 0.45085474, 1.89175731, 0.49580742,
                                   0.56631484)),
                  study_weight = vec(c(2.79315513, 38.61251498, 2.19316111, 31.92826572,
                                       24.47290305)))
for (rm5 in file.path(REPO, c("..", file.path("..", "..")), "shared", "revman",
                      "Fleiss1993.rm5")) {
  if (!file.exists(rm5)) next
  txt <- readLines(rm5, warn = FALSE, encoding = "latin1")
  rows <- regmatches(txt, regexpr("<CONT_DATA [^>]*>", txt))
  attr_of <- function(a) as.numeric(sub(paste0('.* ', a, '="([^"]*)".*'), "\\1", rows))
  same <- isTRUE(all.equal(attr_of("MEAN_1"), as.numeric(fleiss$m1i))) &&
    isTRUE(all.equal(attr_of("SD_1"), as.numeric(fleiss$sd1i))) &&
    isTRUE(all.equal(attr_of("TOTAL_1"), as.numeric(fleiss$n1i))) &&
    isTRUE(all.equal(attr_of("MEAN_2"), as.numeric(fleiss$m2i))) &&
    isTRUE(all.equal(attr_of("SD_2"), as.numeric(fleiss$sd2i))) &&
    isTRUE(all.equal(attr_of("TOTAL_2"), as.numeric(fleiss$n2i)))
  if (!same) stop("the Fleiss (1993) copy differs from ", rm5)
  message("Fleiss (1993) copy checked against ", normalizePath(rm5))
  break
}

# ---------------------------------------------------------------------------
# effect sizes and fits
# ---------------------------------------------------------------------------

calc_es <- function(d, s) {
  if (s$layout == "continuous") {
    es <- collect(escalc(measure = s$measure, m1i = as.numeric(d$m1i),
                         sd1i = as.numeric(d$sd1i), n1i = as.numeric(d$n1i),
                         m2i = as.numeric(d$m2i), sd2i = as.numeric(d$sd2i),
                         n2i = as.numeric(d$n2i)))
    return(data.frame(yi = c(es$yi), vi = es$vi, ni = as.numeric(d$n1i) + as.numeric(d$n2i)))
  }
  if (s$layout == "mean") {
    es <- collect(escalc(measure = "MN", mi = as.numeric(d$mi), sdi = as.numeric(d$sdi),
                         ni = as.numeric(d$ni)))
    return(data.frame(yi = c(es$yi), vi = es$vi, ni = as.numeric(d$ni)))
  }
  if (s$layout == "generic") {
    vi <- if (!is.null(d$sei)) as.numeric(d$sei)^2 else as.numeric(d$vi)
    return(data.frame(yi = as.numeric(d$yi), vi = vi))
  }
  # natural
  z <- qnorm(1 - (1 - s$level / 100) / 2)
  sei <- (log(as.numeric(d$ci_ub)) - log(as.numeric(d$ci_lb))) / (2 * z)
  data.frame(yi = log(as.numeric(d$estimate)), vi = sei^2)
}

fit <- function(es, s, subset = NULL) {
  args <- list(yi = es$yi, vi = es$vi, method = s$method, test = s$test, level = s$level)
  if (!is.null(es$ni)) args$ni <- es$ni  # escalc's sample sizes (regtest predictor "ni")
  if (!is.null(subset)) args$subset <- subset
  collect(do.call(rma, args))
}

weights_full <- function(res) {
  w <- rep(NA_real_, length(res$not.na))
  w[res$not.na] <- weights(res)
  w
}

back_of <- function(res, measure) {
  if (measure %in% LOG_MEASURES) collect(predict(res, transf = exp)) else collect(predict(res))
}

fit_fields <- function(res, measure) {
  fe <- res$method %in% FE_METHODS
  pr <- collect(predict(res))
  bk <- back_of(res, measure)
  tau2_ci <- c(NA, NA); i2_ci <- c(NA, NA); h2_ci <- c(NA, NA)
  if (!fe) {
    ci <- tryCatch(collect(confint(res)), error = function(e) {
      .W$w <- c(.W$w, paste0("confint: ", conditionMessage(e)))
      NULL
    })
    if (!is.null(ci)) {
      rnd <- ci$random
      tau2_ci <- rnd["tau^2", c("ci.lb", "ci.ub")]
      i2_ci <- rnd["I^2(%)", c("ci.lb", "ci.ub")]
      h2_ci <- rnd["H^2", c("ci.lb", "ci.ub")]
    }
  }
  pick <- function(a, b) if (is.null(a)) b else a
  list(
    model = if (fe) "FE" else "RE", k = res$k,
    estimate = num(res$beta), se = num(res$se), ci_lb = num(res$ci.lb),
    ci_ub = num(res$ci.ub), stat = num(res$zval), pval = num(res$pval),
    df = if (res$test == "knha") num(res$ddf) else NULL,
    pi_lb = num(pick(pr$pi.lb, pr$ci.lb)), pi_ub = num(pick(pr$pi.ub, pr$ci.ub)),
    tau2 = num(res$tau2), tau2_se = if (fe) NULL else num(res$se.tau2),
    tau2_ci_lb = if (fe) NULL else num(tau2_ci[1]),
    tau2_ci_ub = if (fe) NULL else num(tau2_ci[2]),
    i2 = num(res$I2), i2_ci_lb = if (fe) NULL else num(i2_ci[1]),
    i2_ci_ub = if (fe) NULL else num(i2_ci[2]),
    h2 = num(res$H2), h2_ci_lb = if (fe) NULL else num(h2_ci[1]),
    h2_ci_ub = if (fe) NULL else num(h2_ci[2]),
    q = num(res$QE), q_df = num(res$k - res$p), q_pval = num(res$QEp),
    back = list(estimate = num(bk$pred), ci_lb = num(bk$ci.lb), ci_ub = num(bk$ci.ub),
                pi_lb = num(pick(bk$pi.lb, bk$ci.lb)), pi_ub = num(pick(bk$pi.ub, bk$ci.ub)))
  )
}

SPECS <- list()
add_spec <- function(id, kind, d, s, expected) {
  SPECS[[length(SPECS) + 1L]] <<- list(id = id, kind = kind, data = d, settings = s,
                                       expected = expected, warnings = I(unique(.W$w)))
  .W$w <- character(0)
}

settings <- function(layout, measure, method = "REML", test = "z", level = 95, ...) {
  c(list(layout = layout, measure = measure, method = method, test = test, level = level,
         scale = if (layout == "natural") "natural" else NULL), list(...))
}

spec_pool <- function(name, d, s, extra = NULL) {
  es <- calc_es(d, s)
  res <- fit(es, s)
  out <- fit_fields(res, s$measure)
  out$studies <- list(yi = vec(es$yi), vi = vec(es$vi), weight = vec(weights_full(res)))
  if (!is.null(extra)) out <- c(out, extra)
  lev <- if (s$level == 95) "" else sprintf("_%g", s$level)
  add_spec(sprintf("%s_%s_%s_%s%s", name, s$measure, s$method, s$test, lev), "pool", d, s, out)
}

spec_subgroup <- function(name, d, s, col) {
  es <- calc_es(d, s)
  g <- as.character(d[[col]])
  levs <- sort(unique(g))
  sub <- list(); est <- c(); se <- c()
  for (lv in levs) {
    r <- fit(es, s, subset = g == lv)
    sub[[length(sub) + 1L]] <- c(list(level = lv), fit_fields(r, s$measure))
    est <- c(est, c(r$beta)); se <- c(se, r$se)
  }
  gf <- factor(g)
  fe <- collect(rma(es$yi, es$vi, mods = ~gf, method = "FE"))
  btw <- collect(rma(yi = est, sei = se, method = "FE"))
  s$subgroup <- col
  add_spec(sprintf("%s_%s_%s_%s_by_%s", name, s$measure, s$method, s$test, col), "subgroup",
           d, s, list(
             overall = fit_fields(fit(es, s), s$measure),
             subgroups = sub,
             test_between_fe = list(q = num(fe$QM), df = num(fe$QMdf[1]), pval = num(fe$QMp)),
             test_between_re = list(q = num(btw$QE), df = num(btw$k - 1),
                                    pval = num(btw$QEp))))
}

spec_metareg <- function(name, d, s, mods) {
  es <- calc_es(d, s)
  df <- as.data.frame(lapply(d[mods], function(x) unclass(x)), stringsAsFactors = FALSE)
  res <- collect(rma(es$yi, es$vi, mods = reformulate(mods), data = df, method = s$method,
                     test = s$test, level = s$level))
  tab <- coef(summary(res))
  coefs <- lapply(seq_len(nrow(tab)), function(i) {
    list(name = rownames(tab)[i], estimate = num(tab$estimate[i]), se = num(tab$se[i]),
         stat = num(tab[i, 3]), pval = num(tab$pval[i]), ci_lb = num(tab$ci.lb[i]),
         ci_ub = num(tab$ci.ub[i]))
  })
  s$mods <- I(mods)
  add_spec(sprintf("%s_%s_%s_%s_mods_%s", name, s$measure, s$method, s$test,
                   paste(mods, collapse = "+")), "metareg", d, s,
           list(k = res$k, coefficients = coefs, qm = num(res$QM), qm_pval = num(res$QMp),
                tau2 = num(res$tau2), i2 = num(res$I2), h2 = num(res$H2),
                q = num(res$QE), q_pval = num(res$QEp)))
}

spec_leave1out <- function(name, d, s) {
  es <- calc_es(d, s)
  res <- fit(es, s)
  l1 <- collect(leave1out(res))
  bk <- if (s$measure %in% LOG_MEASURES) collect(leave1out(res, transf = exp)) else l1
  add_spec(sprintf("%s_%s_%s_%s_leave1out", name, s$measure, s$method, s$test), "leave1out",
           d, s, list(
             study = chr(d$study),
             estimate = vec(l1$estimate), se = vec(l1$se),
             stat = vec(if (is.null(l1$zval)) l1$tval else l1$zval),
             pval = vec(l1$pval), ci_lb = vec(l1$ci.lb), ci_ub = vec(l1$ci.ub),
             q = vec(l1$Q), q_pval = vec(l1$Qp), tau2 = vec(l1$tau2), i2 = vec(l1$I2),
             h2 = vec(l1$H2),
             back = list(estimate = vec(bk$estimate), ci_lb = vec(bk$ci.lb),
                         ci_ub = vec(bk$ci.ub))))
}

spec_regtest <- function(name, d, s, model, predictor = "sei") {
  es <- calc_es(d, s)
  res <- fit(es, s)
  r <- collect(regtest(res, model = model, predictor = predictor))
  tab <- coef(summary(r$fit))
  if (model == "rma") tab <- tab[, c("estimate", "se", intersect(c("zval", "tval"),
                                                                 names(tab)), "pval")]
  coefs <- lapply(seq_len(nrow(tab)), function(i) {
    list(name = c("intrcpt", predictor)[i], estimate = num(tab[i, 1]), se = num(tab[i, 2]),
         stat = num(tab[i, 3]), pval = num(tab[i, 4]))
  })
  s$model <- model; s$predictor <- predictor
  add_spec(sprintf("%s_%s_regtest_%s_%s_%s_%s", name, s$measure, model, predictor, s$method,
                   s$test), "regtest", d, s,
           list(k = res$k, stat = num(r$zval), pval = num(r$pval), df = num(r$ddf),
                limit_estimate = num(r$est), limit_ci_lb = num(r$ci.lb),
                limit_ci_ub = num(r$ci.ub), coefficients = coefs,
                tau2 = num(if (model == "rma") r$fit$tau2 else NA_real_)))
}

spec_ranktest <- function(name, d, s) {
  es <- calc_es(d, s)
  res <- fit(es, s)
  r <- collect(ranktest(res))
  add_spec(sprintf("%s_%s_ranktest", name, s$measure), "ranktest", d, s,
           list(k = res$k, tau = num(r$tau), pval = num(r$pval)))
}

spec_trimfill <- function(name, d, s, estimator = "L0") {
  es <- calc_es(d, s)
  res <- fit(es, s)
  out <- capture.output(tf <- collect(trimfill(res, estimator = estimator, verbose = TRUE)))
  k0 <- tf$k0
  adj <- if (k0 > 0) tf else res
  s$estimator <- estimator
  add_spec(sprintf("%s_%s_trimfill_%s_%s", name, s$measure, estimator, s$method), "trimfill",
           d, s, list(k = res$k, side = tf$side, k0 = k0, se_k0 = num(tf$se.k0),
                      iterations = sum(grepl("^Iteration:", out)),
                      filled_yi = vec(if (k0 > 0) c(tf$yi)[tf$fill] else numeric(0)),
                      adjusted = fit_fields(adj, s$measure)))
}

# ---------------------------------------------------------------------------
# specs
# ---------------------------------------------------------------------------

for (measure in c("MD", "SMD")) {
  for (method in c("FE", "DL", "REML", "PM")) {
    for (test in c("z", "knha")) {
      spec_pool("normand1999", normand, settings("continuous", measure, method, test))
    }
  }
}
for (method in c("FE", "DL", "REML", "PM")) {
  for (test in c("z", "knha")) {
    spec_pool("curtis1998", curtis, settings("continuous", "ROM", method, test))
  }
}
spec_pool("curtis1998", curtis, settings("continuous", "ROM", "REML", "z", 90))
for (method in c("FE", "DL", "REML", "PM")) {
  spec_pool("normand1999arm1", normand_mn, settings("mean", "MN", method, "z"))
}
spec_pool("normand1999arm1", normand_mn, settings("mean", "MN", "REML", "knha"))
for (method in c("FE", "DL", "REML", "PM")) {
  spec_pool("bcgsei", bcg_sei, settings("generic", "GEN", method, "z"))
}
spec_pool("bcgsei", bcg_sei, settings("generic", "GEN", "REML", "knha"))
spec_pool("bcgvi", bcg_vi, settings("generic", "GEN", "DL", "knha"))
for (method in c("FE", "REML", "PM")) {
  spec_pool("bcgnatural", bcg_nat_rr, settings("natural", "RR", method, "z"))
}
spec_pool("bcgnatural", bcg_nat_rr, settings("natural", "RR", "DL", "knha"))
spec_pool("bcgnatural", bcg_nat_rr, settings("natural", "RR", "REML", "z", 90))
spec_pool("bcgnatural", bcg_nat_or, settings("natural", "OR", "REML", "knha"))
spec_pool("bcgnatural", bcg_nat_or, settings("natural", "OR", "FE", "z"))
for (method in c("FE", "REML", "DL", "PM")) {
  spec_pool("fleiss1993", fleiss, settings("continuous", "SMD", method, "z"))
}
spec_pool("fleiss1993", fleiss, settings("continuous", "SMD", "REML", "knha"))
spec_pool("fleiss1993", fleiss, settings("continuous", "MD", "FE", "z"),
          extra = list(revman = revman_md))

spec_subgroup("normand1999", normand, settings("continuous", "MD", "REML", "z"), "size")
spec_subgroup("normand1999", normand, settings("continuous", "SMD", "DL", "knha"), "size")
spec_subgroup("curtis1998", curtis, settings("continuous", "ROM", "REML", "z"), "fungrp")
spec_subgroup("curtis1998", curtis, settings("continuous", "ROM", "FE", "z"), "fungrp")
spec_subgroup("bcgsei", bcg_sei, settings("generic", "GEN", "REML", "z"), "alloc")
spec_subgroup("bcgnatural", bcg_nat_rr, settings("natural", "RR", "PM", "knha"), "alloc")

spec_metareg("curtis1998", curtis, settings("continuous", "ROM", "REML", "z"),
             c("time", "fungrp"))
spec_metareg("curtis1998", curtis, settings("continuous", "ROM", "DL", "knha"), c("xtrt"))
spec_metareg("normand1999", normand, settings("continuous", "SMD", "REML", "z"), c("size"))
spec_metareg("bcgsei", bcg_sei, settings("generic", "GEN", "REML", "knha"),
             c("ablat", "year"))
spec_metareg("bcgnatural", bcg_nat_rr, settings("natural", "RR", "REML", "z"), c("ablat"))

spec_leave1out("normand1999", normand, settings("continuous", "MD", "REML", "z"))
spec_leave1out("normand1999", normand, settings("continuous", "SMD", "DL", "knha"))
spec_leave1out("curtis1998", curtis, settings("continuous", "ROM", "REML", "z"))
spec_leave1out("normand1999arm1", normand_mn, settings("mean", "MN", "FE", "z"))
spec_leave1out("bcgsei", bcg_sei, settings("generic", "GEN", "PM", "z"))
spec_leave1out("bcgnatural", bcg_nat_rr, settings("natural", "RR", "REML", "z"))
spec_leave1out("fleiss1993", fleiss, settings("continuous", "SMD", "FE", "z"))

spec_regtest("curtis1998", curtis, settings("continuous", "ROM", "REML", "z"), "lm")
spec_regtest("curtis1998", curtis, settings("continuous", "ROM", "REML", "z"), "rma")
spec_regtest("normand1999", normand, settings("continuous", "SMD", "REML", "z"), "lm")
spec_regtest("normand1999", normand, settings("continuous", "MD", "DL", "z"), "rma", "ni")
spec_regtest("normand1999arm1", normand_mn, settings("mean", "MN", "REML", "z"), "lm")
spec_regtest("bcgsei", bcg_sei, settings("generic", "GEN", "REML", "z"), "lm")
spec_regtest("bcgnatural", bcg_nat_rr, settings("natural", "RR", "REML", "knha"), "rma")

spec_ranktest("curtis1998", curtis, settings("continuous", "ROM", "REML", "z"))
spec_ranktest("normand1999", normand, settings("continuous", "MD", "REML", "z"))
spec_ranktest("normand1999", normand, settings("continuous", "SMD", "REML", "z"))
spec_ranktest("bcgnatural", bcg_nat_rr, settings("natural", "RR", "REML", "z"))

spec_trimfill("curtis1998", curtis, settings("continuous", "ROM", "REML", "z"))
spec_trimfill("curtis1998", curtis, settings("continuous", "ROM", "FE", "z"), "R0")
spec_trimfill("normand1999", normand, settings("continuous", "SMD", "REML", "z"))
spec_trimfill("normand1999", normand, settings("continuous", "MD", "DL", "z"))
spec_trimfill("bcgsei", bcg_sei, settings("generic", "GEN", "REML", "z"))
spec_trimfill("bcgnatural", bcg_nat_rr, settings("natural", "RR", "FE", "z"))

# ---------------------------------------------------------------------------
# write
# ---------------------------------------------------------------------------

kinds <- vapply(SPECS, function(s) s$kind, "")
meta <- c(versions("tests/reference/make_fixtures_continuous.R"), list(
  n_specs = length(SPECS),
  specs_per_kind = as.list(table(factor(kinds, levels = c("pool", "subgroup", "metareg",
                                                          "leave1out", "regtest",
                                                          "ranktest", "trimfill"))))
))
write_fixture_json(list(meta = meta, specs = full_precision(SPECS)),
                   file.path(OUT, "fixtures_continuous.json"))
message(length(SPECS), " specs written to ", file.path(OUT, "fixtures_continuous.json"))
