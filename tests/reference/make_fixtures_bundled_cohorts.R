# Reference values for the end-to-end tests of the two bundled cohort and case-series
# reviews (tests/test_e2e_cohorts.py): every pooled outcome as the pipeline pools it, and
# its sensitivity analysis without the rows that record a definition variant.
# - PLO outcomes: rma.glmm(measure = "PLO"), refitted tightly as make_fixtures_glmm.R's
#   `tight` (metafor's default fit stops early);
# - OR and RR outcomes: rma(measure, REML, escalc's defaults add = 1/2 to "only0");
# on the pipeline's units: a study whose rows carry groups (extraction.csv's `group`) is
# one unit with its groups' counts summed; an outcome with `rows_of` analyses the rows of
# that outcome (an arm's rows for a pooled rate). The sensitivity analysis drops the rows
# with a `definition` before the groups are summed (its filter `definition != ""`).
# Only analyses with at least 2 units are fitted.
# `glmm_or`: the GLMM row of the alternative-models sensitivity analysis of each OR outcome
# of rescue-stenting (results/rescue-stenting/sensitivity/<outcome>/models.json):
# rma.glmm(measure = "OR", model = "UM.FS") on the main analysis' units, metafor's defaults
# (ML, z test, drop00 = TRUE), refitted tightly with make_fixtures_glmm_or.R's glmer
# optimiser `bobyqa_newton` (copied below); `accurate` is the se (and CI) from numDeriv's
# Richardson Hessian of glmer's deviance function, as in make_fixtures_glmm_or.R.
#
#   Rscript tests/reference/make_fixtures_bundled_cohorts.R
#
# writes tests/reference/fixtures_bundled_cohorts.json.
script_dir <- function() {
  arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  if (length(arg)) dirname(normalizePath(sub("^--file=", "", arg[1]))) else "tests/reference"
}
OUT <- script_dir()
source(file.path(OUT, "fixture_common.R"))
suppressPackageStartupMessages(library(lme4))
ROOT <- normalizePath(file.path(OUT, "..", ".."))

TIGHT <- list(glmerCtrl = list(optimizer = "bobyqa", tolPwrss = 1e-12,
                               optCtrl = list(rhoend = 1e-12, maxfun = 1e5)))
TIGHT_ALT <- list(glmerCtrl = list(optimizer = "nloptwrap", tolPwrss = 1e-12,
                                   optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-15,
                                                  xtol_rel = 1e-14, ftol_rel = 1e-15,
                                                  maxeval = 1e5)))

rows <- function(review, outcome, arm, drop_variants) {
  ex <- read.csv(file.path(ROOT, "data/raw", review, "extraction.csv"),
                 colClasses = c(definition = "character", group = "character"))
  ex$definition[is.na(ex$definition)] <- ""
  d <- ex[ex$outcome == outcome & ex$arm == arm, ]
  if (drop_variants) d <- d[d$definition == "", ]
  d
}

# one unit per study (groups summed), in studies.csv order
arm_units <- function(review, outcome, arm, drop_variants) {
  st <- read.csv(file.path(ROOT, "data/raw", review, "studies.csv"))
  d <- rows(review, outcome, arm, drop_variants)
  xi <- tapply(d$events, d$study_id, sum)
  ni <- tapply(d$total, d$study_id, sum)
  ids <- st$study_id[st$study_id %in% names(xi)]
  data.frame(study = ids, xi = as.numeric(xi[ids]), ni = as.numeric(ni[ids]))
}

two_arm_units <- function(review, outcome, drop_variants) {
  tr <- arm_units(review, outcome, "stent", drop_variants)
  co <- arm_units(review, outcome, "no_stent", drop_variants)
  ids <- tr$study[tr$study %in% co$study]
  tr <- tr[match(ids, tr$study), ]
  co <- co[match(ids, co$study), ]
  data.frame(study = ids, ai = tr$xi, n1i = tr$ni, ci = co$xi, n2i = co$ni)
}

fit_glmm <- function(d) {
  r <- tryCatch(rma.glmm(measure = "PLO", xi = d$xi, ni = d$ni, control = TIGHT),
                error = function(e) NULL)
  control <- "tight"
  if (is.null(r)) {
    r <- suppressMessages(rma.glmm(measure = "PLO", xi = d$xi, ni = d$ni, control = TIGHT_ALT))
    control <- "tight_alt"
  }
  pr <- predict(r, transf = transf.ilogit)
  list(control = control, k = r$k, estimate = r$beta[1], se = r$se[1], ci_lb = r$ci.lb[1],
       ci_ub = r$ci.ub[1], pval = r$pval[1], tau2 = r$tau2, i2 = r$I2, q = r$QE.Wld,
       q_lrt = r$QE.LRT, q_df = r$QE.df,
       back = list(estimate = pr$pred, ci_lb = pr$ci.lb, ci_ub = pr$ci.ub))
}

fit_rma <- function(d, measure) {
  r <- rma(measure = measure, ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i, method = "REML")
  pr <- predict(r, transf = exp)
  list(k = r$k, estimate = r$beta[1], se = r$se[1], ci_lb = r$ci.lb[1], ci_ub = r$ci.ub[1],
       pval = r$pval[1], tau2 = r$tau2, i2 = r$I2, q = r$QE, q_df = r$k - 1,
       back = list(estimate = pr$pred, ci_lb = pr$ci.lb, ci_ub = pr$ci.ub))
}

cases <- list(
  list(review = "dmvo-case-series", outcome = "reperfusion", rows_of = "reperfusion",
       measure = "PLO", arm = "evt"),
  list(review = "dmvo-case-series", outcome = "mrs02", rows_of = "mrs02", measure = "PLO",
       arm = "evt"),
  list(review = "dmvo-case-series", outcome = "death", rows_of = "death", measure = "PLO",
       arm = "evt"),
  list(review = "dmvo-case-series", outcome = "sich", rows_of = "sich", measure = "PLO",
       arm = "evt"),
  list(review = "rescue-stenting", outcome = "mrs02", rows_of = "mrs02", measure = "OR"),
  list(review = "rescue-stenting", outcome = "death", rows_of = "death", measure = "OR"),
  list(review = "rescue-stenting", outcome = "sich", rows_of = "sich", measure = "OR"),
  list(review = "rescue-stenting", outcome = "mrs03", rows_of = "mrs03", measure = "OR"),
  list(review = "rescue-stenting", outcome = "mrs02-rr", rows_of = "mrs02", measure = "RR"),
  list(review = "rescue-stenting", outcome = "death-rr", rows_of = "death", measure = "RR"),
  list(review = "rescue-stenting", outcome = "sich-rr", rows_of = "sich", measure = "RR"),
  list(review = "rescue-stenting", outcome = "mrs02-rate", rows_of = "mrs02",
       measure = "PLO", arm = "stent"),
  list(review = "rescue-stenting", outcome = "death-rate", rows_of = "death",
       measure = "PLO", arm = "stent"),
  list(review = "rescue-stenting", outcome = "sich-rate", rows_of = "sich",
       measure = "PLO", arm = "stent")
)

one <- function(cs, drop_variants) {
  if (cs$measure == "PLO") {
    d <- arm_units(cs$review, cs$rows_of, cs$arm, drop_variants)
    f <- if (nrow(d) >= 2) fit_glmm(d) else NULL
  } else {
    d <- two_arm_units(cs$review, cs$rows_of, drop_variants)
    f <- if (nrow(d) >= 2) fit_rma(d, cs$measure) else NULL
  }
  list(studies = I(d$study), fit = f)
}

out <- lapply(cases, function(cs) {
  c(cs, list(main = one(cs, FALSE), without_variants = one(cs, TRUE)))
})

source(file.path(OUT, "glmm_tight.R"))  # bobyqa_newton, as make_fixtures_glmm_or.R
TIGHT_NEWTON <- list(glmerCtrl = list(optimizer = bobyqa_newton, tolPwrss = 1e-10))

# se from an accurate Hessian of glmer's deviance function at the fit's optimum
accurate_se <- function(res) {
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
  crit <- qnorm(1 - res$level / 2)  # metafor stores the level as alpha
  list(se = se, ci_lb = res$beta[1] - crit * se, ci_ub = res$beta[1] + crit * se)
}

fit_glmm_or <- function(d) {
  r <- rma.glmm(measure = "OR", ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i,
                model = "UM.FS", control = TIGHT_NEWTON, retfit = TRUE)
  pr <- predict(r, transf = exp)
  list(control = "bobyqa_newton", k = r$k, estimate = r$beta[1], se = r$se[1],
       ci_lb = r$ci.lb[1], ci_ub = r$ci.ub[1], pval = r$pval[1], tau2 = r$tau2, i2 = r$I2,
       q_wald = r$QE.Wld, q_lrt = r$QE.LRT, q_df = r$QE.df,
       back = list(estimate = pr$pred, ci_lb = pr$ci.lb, ci_ub = pr$ci.ub),
       accurate = accurate_se(r))
}

glmm_or <- lapply(Filter(function(cs) cs$review == "rescue-stenting" && cs$measure == "OR",
                         cases), function(cs) {
  d <- two_arm_units(cs$review, cs$rows_of, FALSE)
  list(review = cs$review, outcome = cs$outcome, rows_of = cs$rows_of, measure = "OR",
       model = "UM.FS", studies = I(d$study), fit = fit_glmm_or(d))
})

write_fixture_json(full_precision(list(meta = versions("make_fixtures_bundled_cohorts.R"),
                                       cases = out, glmm_or = glmm_or)),
                   file.path(OUT, "fixtures_bundled_cohorts.json"))
cat("wrote", file.path(OUT, "fixtures_bundled_cohorts.json"), "\n")
