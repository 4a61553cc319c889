# Reference values for the GLMM of single-arm proportions: metafor's
# rma.glmm(measure = "PLO") (random-intercept logistic model, ML by lme4::glmer with
# 7-point adaptive Gauss-Hermite quadrature; and method = "FE", a glm).
#
#   Rscript tests/reference/make_fixtures_glmm.R
#
# writes tests/reference/fixtures_glmm.json. Data: metadat's dat.pritz1997 (14 case series,
# two with xi = ni) and the bundled dmvo-case-series review's counts
# (data/raw/dmvo-case-series/extraction.csv; a row with a `group` is its own unit here).
#
# Each spec has `default` (metafor's defaults) and, for ML, `tight`: the same model refitted
# with glmerCtrl = list(optimizer = "bobyqa", tolPwrss = 1e-12,
# optCtrl = list(rhoend = 1e-12, maxfun = 1e5)). glmer's default optimiser stops early
# (estimates differ from the optimum by up to ~1e-5); `tight_alt` refits with nloptwrap at
# tight tolerances, and `tight` vs `tight_alt` shows the precision of the optimum itself.
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

ROOT <- normalizePath(file.path(OUT, "..", ".."))
ex <- read.csv(file.path(ROOT, "data/raw/dmvo-case-series/extraction.csv"))
st <- read.csv(file.path(ROOT, "data/raw/dmvo-case-series/studies.csv"))

TIGHT <- list(glmerCtrl = list(optimizer = "bobyqa", tolPwrss = 1e-12,
                               optCtrl = list(rhoend = 1e-12, maxfun = 1e5)))
TIGHT_ALT <- list(glmerCtrl = list(optimizer = "nloptwrap", tolPwrss = 1e-12,
                                   optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-15,
                                                  xtol_rel = 1e-14, ftol_rel = 1e-15,
                                                  maxeval = 1e5)))

case_series <- function(outcome) {
  d <- ex[ex$outcome == outcome, ]
  d$study <- ifelse(d$group == "", d$study_id, paste0(d$study_id, ":", d$group))
  d <- merge(d, st[, c("study_id", "territory", "technique")], by = "study_id", sort = FALSE)
  d <- d[order(d$study), ]
  data.frame(study = d$study, xi = d$events, ni = d$total, territory = d$territory,
             technique = d$technique, definition = d$definition)
}

fields <- function(res) {
  pr <- predict(res, transf = transf.ilogit)
  pr0 <- predict(res)
  list(
    model = if (res$method == "ML") "RE" else "FE",
    k = res$k, p = res$p,
    coefficients = lapply(seq_len(res$p), function(j) list(
      name = rownames(res$beta)[j], estimate = res$beta[j], se = res$se[j],
      stat = res$zval[j], pval = res$pval[j], ci_lb = res$ci.lb[j], ci_ub = res$ci.ub[j])),
    estimate = res$beta[1], se = res$se[1], ci_lb = res$ci.lb[1], ci_ub = res$ci.ub[1],
    stat = res$zval[1], pval = res$pval[1], df = if (res$test == "t") res$ddf else NA,
    tau2 = res$tau2, i2 = res$I2, h2 = res$H2, vt = res$vt,
    q_wald = res$QE.Wld, q_wald_pval = res$QEp.Wld, q_lrt = res$QE.LRT,
    q_lrt_pval = res$QEp.LRT, q_df = res$QE.df,
    qm = res$QM, qm_df = res$QMdf[1], qm_pval = res$QMp,
    ll = res$fit.stats["ll", "ML"],
    pi_lb = if (res$int.only) pr0$pi.lb else NA, pi_ub = if (res$int.only) pr0$pi.ub else NA,
    back = if (res$int.only) list(estimate = pr$pred, ci_lb = pr$ci.lb, ci_ub = pr$ci.ub,
                                  pi_lb = pr$pi.lb, pi_ub = pr$pi.ub) else NULL
  )
}

fit <- function(d, method, test, level, mods, control) {
  args <- list(measure = "PLO", xi = d$xi, ni = d$ni, method = method, test = test,
               level = level)
  if (!is.null(mods)) args$mods <- mods
  if (!is.null(control)) args$control <- control
  do.call(rma.glmm, args)
}

spec <- function(id, d, method = "ML", test = "z", level = 95, mods = NULL, modcol = NULL) {
  .W$w <- character(0)
  mm <- if (!is.null(modcol)) model.matrix(~ factor(d[[modcol]]))[, -1, drop = FALSE] else NULL
  res <- collect(fit(d, method, test, level, mm, NULL))
  out <- list(
    id = id, kind = if (is.null(modcol)) "pool" else "mods",
    data = list(study = d$study, xi = I(as.numeric(d$xi)), ni = I(as.numeric(d$ni))),
    settings = list(measure = "PLO", method = method, test = test, level = level,
                    nAGQ = 7, mods = modcol),
    default = fields(res)
  )
  if (!is.null(modcol)) {
    out$data[[modcol]] <- d[[modcol]]
    out$data$mods <- lapply(seq_len(nrow(mm)), function(i) I(as.numeric(mm[i, ])))
  }
  if (method == "ML") {
    out$tight <- tryCatch(fields(collect(fit(d, method, test, level, mm, TIGHT))),
                          error = function(e) NULL)
    out$tight_alt <- fields(collect(fit(d, method, test, level, mm, TIGHT_ALT)))
  }
  # escalc's PLO (add 1/2 to 0 or n events): the variances behind vt; exact CIs per study
  es <- escalc("PLO", xi = d$xi, ni = d$ni, add = 1/2, to = "only0")
  cp <- t(sapply(seq_len(nrow(d)), function(i) binom.test(d$xi[i], d$ni[i])$conf.int))
  out$studies <- list(yi = I(as.numeric(es$yi)), vi = I(as.numeric(es$vi)),
                      cp_lb = I(cp[, 1]), cp_ub = I(cp[, 2]))
  out$warnings <- unique(.W$w)
  out
}

# subgroups by level: one rma.glmm per level (own tau2), and the test for subgroup
# differences as meta's metaprop / RevMan compute it, Cochran's Q over the level estimates
# with weights 1/se^2 (rma(yi = estimates, sei = se, method = "FE")$QE)
subgroup_spec <- function(id, d, column) {
  d <- d[d[[column]] != "", ]
  counts <- table(d[[column]])
  d <- d[d[[column]] %in% names(counts)[counts >= 2], ]  # a one-unit level has no GLMM
  levels <- sort(unique(d[[column]]))
  lev <- lapply(levels, function(g) {
    x <- d[d[[column]] == g, ]
    r <- tryCatch(rma.glmm(measure = "PLO", xi = x$xi, ni = x$ni, control = TIGHT),
                  error = function(e) NULL)
    control <- "tight"
    if (is.null(r)) {  # bobyqa at rhoend 1e-12 fails on a boundary fit (tau2 = 0)
      r <- tryCatch(rma.glmm(measure = "PLO", xi = x$xi, ni = x$ni, control = TIGHT_ALT),
                    error = function(e) NULL)
      control <- "tight_alt"
    }
    if (is.null(r)) {  # so does nloptwrap (roundoff); glmer's defaults converge there
      r <- suppressMessages(rma.glmm(measure = "PLO", xi = x$xi, ni = x$ni))
      control <- "default"
    }
    c(list(level = g, control = control), fields(r))
  })
  est <- sapply(lev, function(l) l$estimate)
  se <- sapply(lev, function(l) l$se)
  b <- rma(yi = est, sei = se, method = "FE")
  list(id = id, kind = "subgroup",
       data = list(study = d$study, xi = I(as.numeric(d$xi)), ni = I(as.numeric(d$ni)),
                   group = d[[column]]),
       settings = list(measure = "PLO", method = "ML", column = column),
       levels = lev, test_between = list(q = b$QE, df = b$k - 1, pval = b$QEp))
}

pritz <- data.frame(study = as.character(dat.pritz1997$study), xi = dat.pritz1997$xi,
                    ni = dat.pritz1997$ni)
rep <- case_series("reperfusion")
sich <- case_series("sich")
mrs <- case_series("mrs02")
rep_def <- rep[rep$definition == "", ]

specs <- list(
  spec("pritz1997_ML", pritz),
  spec("pritz1997_ML_t", pritz, test = "t"),
  spec("pritz1997_ML_level90", pritz, level = 90),
  spec("pritz1997_FE", pritz, method = "FE"),
  spec("dmvo_reperfusion_ML", rep),
  spec("dmvo_reperfusion_FE", rep, method = "FE"),
  spec("dmvo_reperfusion_protocol_definition_ML", rep_def),
  spec("dmvo_sich_ML", sich),
  spec("dmvo_sich_FE", sich, method = "FE"),
  spec("dmvo_mrs02_ML", mrs),
  # territories with two or more units (MCA has one series, 31/31: no finite coefficient)
  spec("dmvo_reperfusion_mods_territory_ML", rep[rep$territory %in% c("ACA", "PCA"), ],
       modcol = "territory")
)
subgroups <- list(
  subgroup_spec("dmvo_reperfusion_by_territory", rep, "territory")
)

write_fixture_json(full_precision(list(
  meta = versions("make_fixtures_glmm.R"),
  lme4_version = as.character(packageVersion("lme4")),
  specs = specs, subgroups = subgroups
)), file.path(OUT, "fixtures_glmm.json"))
cat("wrote", file.path(OUT, "fixtures_glmm.json"), "\n")
