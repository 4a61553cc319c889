# Reference values for the GLMM of sparse 2x2 tables: metafor's
# rma.glmm(measure = "OR", model = "UM.FS") (the unconditional model with fixed study
# effects: a logistic regression of the two arms' counts with one fixed intercept per study,
# the treatment effect as fixed effect on the treatment arm (coded 1/0) and a random
# treatment effect per study (coded +1/2 treatment, -1/2 control), tau2 by ML with
# lme4::glmer and 7-point adaptive Gauss-Hermite quadrature; method = "FE" is the glm).
#
#   Rscript tests/reference/make_fixtures_glmm_or.R
#
# writes tests/reference/fixtures_glmm_or.json. Data: metadat's dat.bcg (no zero cells),
# dat.nielweise2007 (6 zero cells, 1 double-zero study), dat.hahn2001 (3 double-zero
# studies), dat.li2007 (2 zero cells) and dat.anand1999 (34 trials, 1 double-zero study).
# rma.glmm's defaults drop00 = TRUE (drops tables with no events in either arm, and with
# events only), add = 1/2, to = "only0" (escalc's yi/vi behind I2's typical variance vt).
#
# `default` is metafor's default fit. For ML, glmer optimises over the k + 2 parameters
# (theta, the treatment effect, k study intercepts) and its default optimiser stops up to
# ~5e-4 short of the optimum; bobyqa and nloptwrap at tight tolerances (as in
# make_fixtures_glmm.R) still disagree with each other by ~1e-6 here (the deviance is flat in
# the study intercepts) or fail. So `tight` is rma.glmm itself with a glmer optimiser that
# polishes bobyqa's result by Newton steps on glmer's own deviance function (numDeriv's
# Richardson gradient and Hessian), until the step is below 1e-10: every reported quantity
# is still computed by metafor and lme4 (lme4's finite-difference Hessian for the se).
# `tight_bobyqa` is the plain bobyqa refit (rhoend 1e-12, tolPwrss 1e-10), for comparison.
#
# lme4's se (vcov from its Hessian) is a central difference of step 1e-4 on a deviance that
# is known only to the PIRLS tolerance (tolPwrss), so it carries an error of up to ~3e-6 on
# dat.bcg (large arms), whatever the tolerance (1e-10 and 1e-11 err on opposite sides; 1e-12
# fails). `accurate` records the se (and CI) from numDeriv's Richardson Hessian of glmer's
# own deviance function at the tight optimum (in theta and the fixed effects; in the fixed
# effects only where theta = 0), the quantity lme4's vcov approximates.
script_dir <- function() {
  arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  if (length(arg)) dirname(normalizePath(sub("^--file=", "", arg[1]))) else "tests/reference"
}
OUT <- script_dir()
source(file.path(OUT, "fixture_common.R"))
suppressPackageStartupMessages({
  library(metadat)
  library(lme4)
})

source(file.path(OUT, "glmm_tight.R"))  # bobyqa_newton
TIGHT <- list(glmerCtrl = list(optimizer = bobyqa_newton, tolPwrss = 1e-10))
TIGHT_BOBYQA <- list(glmerCtrl = list(optimizer = "bobyqa", tolPwrss = 1e-10,
                                      optCtrl = list(rhoend = 1e-12, maxfun = 1e5)))

fields <- function(res) {
  pr <- predict(res, transf = exp)
  pr0 <- predict(res)
  list(
    model = if (res$method == "ML") "RE" else "FE",
    k = res$k, p = res$p,
    estimate = res$beta[1], se = res$se[1], ci_lb = res$ci.lb[1], ci_ub = res$ci.ub[1],
    stat = res$zval[1], pval = res$pval[1], df = if (res$test == "t") res$ddf else NA,
    tau2 = res$tau2, i2 = res$I2, h2 = res$H2, vt = res$vt,
    q_wald = res$QE.Wld, q_wald_pval = res$QEp.Wld, q_lrt = res$QE.LRT,
    q_lrt_pval = res$QEp.LRT, q_df = res$QE.df,
    qm = res$QM, qm_df = res$QMdf[1], qm_pval = res$QMp,
    ll = res$fit.stats["ll", "ML"],
    pi_lb = pr0$pi.lb, pi_ub = pr0$pi.ub,
    back = list(estimate = pr$pred, ci_lb = pr$ci.lb, ci_ub = pr$ci.ub,
                pi_lb = pr$pi.lb, pi_ub = pr$pi.ub)
  )
}

fit <- function(d, method, test, level, control, retfit = FALSE) {
  args <- list(measure = "OR", ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i,
               model = "UM.FS", method = method, test = test, level = level,
               retfit = retfit)
  if (!is.null(control)) args$control <- control
  do.call(rma.glmm, args)
}

# se from an accurate Hessian of glmer's deviance function at the fit's optimum
accurate <- function(res) {
  m <- res$res.ML
  dd <- update(m, devFunOnly = TRUE)
  theta <- getME(m, "theta")
  par <- c(theta, fixef(m))
  vb <- if (theta > 0) {
    2 * solve(numDeriv::hessian(dd, par))[2, 2]
  } else {
    2 * solve(numDeriv::hessian(function(b) dd(c(0, b)), fixef(m)))[1, 1]
  }
  se <- sqrt(vb)
  a <- res$level  # metafor stores the level as alpha (0.05 for 95%)
  crit <- if (res$test == "t") qt(1 - a / 2, res$k - 1) else qnorm(1 - a / 2)
  list(se = se, ci_lb = res$beta[1] - crit * se, ci_ub = res$beta[1] + crit * se,
       pi_lb = res$beta[1] - crit * sqrt(vb + res$tau2),
       pi_ub = res$beta[1] + crit * sqrt(vb + res$tau2))
}

spec <- function(id, d, method = "ML", test = "z", level = 95) {
  .W$w <- character(0)
  res <- collect(fit(d, method, test, level, NULL))
  out <- list(
    id = id, kind = "pool",
    data = list(study = d$study, ai = I(as.numeric(d$ai)), n1i = I(as.numeric(d$n1i)),
                ci = I(as.numeric(d$ci)), n2i = I(as.numeric(d$n2i))),
    settings = list(measure = "OR", model = "UM.FS", method = method, test = test,
                    level = level, nAGQ = 7, add = 0.5, to = "only0", drop00 = TRUE),
    default = fields(res)
  )
  if (method == "ML") {
    tight <- collect(fit(d, method, test, level, TIGHT, retfit = TRUE))
    out$tight <- fields(tight)
    out$accurate <- accurate(tight)
    out$tight_bobyqa <- tryCatch(fields(collect(fit(d, method, test, level, TIGHT_BOBYQA))),
                                 error = function(e) NULL)
  }
  # escalc's OR with rma.glmm's defaults: the yi/vi behind vt (NA for dropped tables)
  es <- escalc("OR", ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i, add = 1/2,
               to = "only0", drop00 = TRUE)
  out$studies <- list(yi = I(as.numeric(es$yi)), vi = I(as.numeric(es$vi)),
                      dropped = I(which(is.na(es$yi)) - 1L))
  out$warnings <- unique(.W$w)
  out
}

bcg <- data.frame(study = paste(dat.bcg$author, dat.bcg$year), ai = dat.bcg$tpos,
                  n1i = dat.bcg$tpos + dat.bcg$tneg, ci = dat.bcg$cpos,
                  n2i = dat.bcg$cpos + dat.bcg$cneg)
niel <- data.frame(study = paste(dat.nielweise2007$author, dat.nielweise2007$year),
                   ai = dat.nielweise2007$ai, n1i = dat.nielweise2007$n1i,
                   ci = dat.nielweise2007$ci, n2i = dat.nielweise2007$n2i)
hahn <- data.frame(study = as.character(dat.hahn2001$study), ai = dat.hahn2001$ai,
                   n1i = dat.hahn2001$n1i, ci = dat.hahn2001$ci, n2i = dat.hahn2001$n2i)
li <- data.frame(study = as.character(dat.li2007$study), ai = dat.li2007$ai,
                 n1i = dat.li2007$n1i, ci = dat.li2007$ci, n2i = dat.li2007$n2i)
anand <- data.frame(study = paste(dat.anand1999$study, dat.anand1999$year),
                    ai = dat.anand1999$ai, n1i = dat.anand1999$n1i,
                    ci = dat.anand1999$ci, n2i = dat.anand1999$n2i)

specs <- list(
  spec("bcg_UMFS_ML", bcg),
  spec("bcg_UMFS_ML_t", bcg, test = "t"),
  spec("bcg_UMFS_FE", bcg, method = "FE"),
  spec("nielweise2007_UMFS_ML", niel),
  spec("nielweise2007_UMFS_ML_level90", niel, level = 90),
  spec("nielweise2007_UMFS_FE", niel, method = "FE"),
  spec("hahn2001_UMFS_ML", hahn),
  spec("li2007_UMFS_ML", li),
  spec("anand1999_UMFS_ML", anand)
)

write_fixture_json(full_precision(list(
  meta = versions("make_fixtures_glmm_or.R"),
  lme4_version = as.character(packageVersion("lme4")),
  specs = specs
)), file.path(OUT, "fixtures_glmm_or.json"))
cat("wrote", file.path(OUT, "fixtures_glmm_or.json"), "\n")
