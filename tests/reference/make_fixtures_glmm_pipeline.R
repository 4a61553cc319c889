# Reference values for the GLMM outcomes of the two bundled reviews as the pipeline pools
# them: metafor's rma.glmm(measure = "PLO"), refitted tightly (as make_fixtures_glmm.R's
# `tight`), on the pipeline's units:
# - dmvo-case-series: a study whose rows carry groups (extraction.csv's `group`) is one
#   unit with its groups' counts summed;
# - rescue-stenting: the `stent` arm's rows of `death` and `sich` (outcomes death-rate and
#   sich-rate, `rows_of`).
#
#   Rscript tests/reference/make_fixtures_glmm_pipeline.R
#
# writes tests/reference/fixtures_glmm_pipeline.json.
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

units <- function(review, outcome, arm) {
  ex <- read.csv(file.path(ROOT, "data/raw", review, "extraction.csv"))
  st <- read.csv(file.path(ROOT, "data/raw", review, "studies.csv"))
  d <- ex[ex$outcome == outcome & ex$arm == arm, ]
  xi <- tapply(d$events, d$study_id, sum)
  ni <- tapply(d$total, d$study_id, sum)
  ids <- st$study_id[st$study_id %in% names(xi)]  # studies.csv order
  data.frame(study = ids, xi = as.numeric(xi[ids]), ni = as.numeric(ni[ids]))
}

fit <- function(d) {
  r <- tryCatch(rma.glmm(measure = "PLO", xi = d$xi, ni = d$ni, control = TIGHT),
                error = function(e) NULL)
  control <- "tight"
  if (is.null(r)) {
    r <- suppressMessages(rma.glmm(measure = "PLO", xi = d$xi, ni = d$ni, control = TIGHT_ALT))
    control <- "tight_alt"
  }
  pr <- predict(r, transf = transf.ilogit)
  list(control = control, k = r$k, estimate = r$beta[1], se = r$se[1], ci_lb = r$ci.lb[1],
       ci_ub = r$ci.ub[1], pval = r$pval[1], tau2 = r$tau2, i2 = r$I2, q_wald = r$QE.Wld,
       q_lrt = r$QE.LRT, q_df = r$QE.df,
       back = list(estimate = pr$pred, ci_lb = pr$ci.lb, ci_ub = pr$ci.ub,
                   pi_lb = pr$pi.lb, pi_ub = pr$pi.ub))
}

cases <- list(
  list(review = "dmvo-case-series", outcome = "reperfusion", rows_of = "reperfusion", arm = "evt"),
  list(review = "dmvo-case-series", outcome = "mrs02", rows_of = "mrs02", arm = "evt"),
  list(review = "dmvo-case-series", outcome = "death", rows_of = "death", arm = "evt"),
  list(review = "dmvo-case-series", outcome = "sich", rows_of = "sich", arm = "evt"),
  list(review = "rescue-stenting", outcome = "death-rate", rows_of = "death", arm = "stent"),
  list(review = "rescue-stenting", outcome = "sich-rate", rows_of = "sich", arm = "stent")
)
out <- lapply(cases, function(cs) {
  d <- units(cs$review, cs$rows_of, cs$arm)
  c(cs, list(data = list(study = d$study, xi = I(d$xi), ni = I(d$ni))), list(fit = fit(d)))
})
write_fixture_json(full_precision(list(meta = versions("make_fixtures_glmm_pipeline.R"),
                                       cases = out)),
                   file.path(OUT, "fixtures_glmm_pipeline.json"))
cat("wrote", file.path(OUT, "fixtures_glmm_pipeline.json"), "\n")
