#!/usr/bin/env Rscript
# Reference fixtures for metareview, computed with R's metafor.
#
#   Rscript tests/reference/make_fixtures.R
#
# writes tests/reference/fixtures.json (a JSON array of specs) and
# tests/reference/fixtures_meta.json (R / package versions, skipped specs).
# See tests/reference/README.md for the meaning of every field.
#
# The output is deterministic: no random numbers, no dates, C collation for
# factor levels, fixed spec order.

script_dir <- function() {
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 1L) dirname(normalizePath(f)) else file.path("tests", "reference")
}
OUT <- script_dir()
# session setup, SINGLE, collect(), back_transf(), full_precision(), write_fixture_json()
source(file.path(OUT, "fixture_common.R"))

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

FE_METHODS <- c("FE", "EE", "CE")

# numeric scalar or NULL (-> JSON null); NA stays NA (-> JSON null)
num <- function(x) {
  if (is.null(x) || length(x) == 0L) return(NULL)
  x <- unname(c(x))
  if (length(x) != 1L) stop("num(): expected a scalar")
  if (is.na(x)) return(NA_real_)
  as.numeric(x)
}
vec <- function(x) I(unname(as.vector(x)))

# full-length (input order) weights, NA where a study is not in the fit
weights_full <- function(res) {
  op <- options(na.action = "na.pass")
  on.exit(options(op))
  unname(weights(res))
}

make_settings <- function(measure, method, test = "z", add = NULL, to = "only0",
                          drop00 = NULL, level = 95, subgroup = NULL, mods = NULL) {
  if (is.null(add)) add <- if (measure %in% c("PAS", "PFT")) 0 else 0.5
  if (is.null(drop00)) drop00 <- method %in% c("MH", "PETO")
  if (measure %in% SINGLE) drop00 <- FALSE
  list(
    measure = measure, method = method, test = test, add = add, to = to,
    drop00 = drop00, level = level, subgroup = subgroup,
    mods = if (is.null(mods)) NULL else I(mods)
  )
}

# escalc on the input table, settings as given (explicit add, so that
# PAS/PFT honour it too)
calc_es <- function(d, s) {
  if (s$measure %in% SINGLE) {
    collect(escalc(measure = s$measure, xi = d$xi, ni = d$ni,
                   add = s$add, to = s$to))
  } else {
    collect(escalc(measure = s$measure, ai = d$ai, bi = d$n1i - d$ai,
                   ci = d$ci, di = d$n2i - d$ci,
                   add = s$add, to = s$to, drop00 = s$drop00))
  }
}

# the ni that transf.ipft.hm needs: sample sizes of the studies in the fit
fit_ni <- function(d, res, subset = NULL) {
  if (!("ni" %in% names(d))) return(NULL)
  ni <- d$ni
  if (!is.null(subset)) ni <- ni[subset]
  ni[res$not.na]
}

do_predict <- function(res, measure, ni) {
  tf <- back_transf(measure)
  if (is.null(tf)) return(collect(predict(res)))
  if (measure == "PFT") return(collect(predict(res, transf = tf, targs = list(ni = ni))))
  collect(predict(res, transf = tf))
}

# the pool fields of one fit (rma.uni, rma.mh or rma.peto)
fit_fields <- function(res, measure, ni = NULL) {
  is_mh <- inherits(res, "rma.mh")
  is_peto <- inherits(res, "rma.peto")
  fe <- res$method %in% FE_METHODS
  model <- if (is_mh) "MH" else if (is_peto) "PETO" else if (fe) "FE" else "RE"
  pr <- collect(predict(res))
  bk <- do_predict(res, measure, ni)
  pi_lb <- if (is.null(pr$pi.lb)) pr$ci.lb else pr$pi.lb
  pi_ub <- if (is.null(pr$pi.ub)) pr$ci.ub else pr$pi.ub
  bpi_lb <- if (is.null(bk$pi.lb)) bk$ci.lb else bk$pi.lb
  bpi_ub <- if (is.null(bk$pi.ub)) bk$ci.ub else bk$pi.ub

  tau2_ci <- c(NA, NA); i2_ci <- c(NA, NA); h2_ci <- c(NA, NA)
  if (model == "RE") {
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
  tight <- if (model == "RE") tight_fields(res) else NULL
  q_df <- if (is_mh || is_peto) res$k.yi - 1 else res$k - res$p
  out <- list(
    model = model,
    k = res$k,
    estimate = num(res$beta), se = num(res$se),
    ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub),
    stat = num(res$zval), pval = num(res$pval),
    df = if (res$test %in% c("knha", "t", "adhoc")) num(res$ddf) else NULL,
    pi_lb = num(pi_lb), pi_ub = num(pi_ub),
    tau2 = if (is_mh || is_peto) NULL else num(res$tau2),
    tau2_se = if (is_mh || is_peto) NULL else num(res$se.tau2),
    tau2_ci_lb = if (model == "RE") num(tau2_ci[1]) else NULL,
    tau2_ci_ub = if (model == "RE") num(tau2_ci[2]) else NULL,
    i2 = num(res$I2),
    i2_ci_lb = if (model == "RE") num(i2_ci[1]) else NULL,
    i2_ci_ub = if (model == "RE") num(i2_ci[2]) else NULL,
    h2 = num(res$H2),
    h2_ci_lb = if (model == "RE") num(h2_ci[1]) else NULL,
    h2_ci_ub = if (model == "RE") num(h2_ci[2]) else NULL,
    q = num(res$QE), q_df = num(q_df), q_pval = num(res$QEp),
    back = list(
      estimate = num(bk$pred), ci_lb = num(bk$ci.lb), ci_ub = num(bk$ci.ub),
      pi_lb = num(bpi_lb), pi_ub = num(bpi_ub)
    )
  )
  if (!is.null(tight)) out$tight <- tight
  if (is_mh || is_peto) out$k_yi <- res$k.yi
  if (is_mh) {
    out$mh <- TRUE
    if (measure == "OR") {
      out$mh_tests <- list(
        cmh = num(res$MH), cmh_pval = num(res$MHp),
        bd = num(res$BD), bd_pval = num(res$BDp),
        ta = num(res$TA), ta_pval = num(res$TAp), k_pos = res$k.pos
      )
    }
  }
  out
}

# metafor's own stopping rules are loose: Fisher scoring (ML/REML/EB) stops when
# the tau2 change is <= 1e-5, uniroot (PM, Q-profile CI) uses tol =
# .Machine$double.eps^0.25 ~ 1.2e-4.  For implementations that solve the
# estimating equations to machine precision the same model is refitted with
# tight controls; these values go to expected$tight.
TIGHT_FIT <- list(threshold = 1e-13, tol = 1e-13, maxiter = 10000)
TIGHT_CI <- list(tol = 1e-13, maxiter = 10000)
tight_fields <- function(res, mods = NULL, data = NULL) {
  .saved <- .W$w
  on.exit(.W$w <- .saved)
  r <- tryCatch({
    args <- list(yi = res$yi, vi = res$vi, method = res$method, test = res$test,
                 level = res$level, control = TIGHT_FIT)
    if (!is.null(mods)) args <- c(args, list(mods = res$X, intercept = FALSE))
    collect(do.call(rma, args))
  }, error = function(e) NULL)
  if (is.null(r)) return(NULL)
  out <- list(tau2 = num(r$tau2))
  if (is.null(mods)) { out$estimate <- num(r$beta); out$se <- num(r$se) }
  out$i2 <- num(r$I2); out$h2 <- num(r$H2)
  if (is.null(mods)) {
    ci <- tryCatch(collect(confint(r, control = TIGHT_CI)), error = function(e) NULL)
    if (!is.null(ci)) {
      rnd <- ci$random
      out$tau2_ci_lb <- num(rnd["tau^2", "ci.lb"]); out$tau2_ci_ub <- num(rnd["tau^2", "ci.ub"])
      out$i2_ci_lb <- num(rnd["I^2(%)", "ci.lb"]); out$i2_ci_ub <- num(rnd["I^2(%)", "ci.ub"])
      out$h2_ci_lb <- num(rnd["H^2", "ci.lb"]); out$h2_ci_ub <- num(rnd["H^2", "ci.ub"])
    }
  } else {
    out$coefficients <- I(unname(c(r$beta)))
  }
  out
}

studies_block <- function(yi, vi, w, level) {
  crit <- qnorm((100 - level) / 200, lower.tail = FALSE)
  yi <- unname(as.vector(yi)); vi <- unname(as.vector(vi))
  list(yi = I(yi), vi = I(vi), weight = I(unname(w)),
       ci_lb = I(yi - crit * sqrt(vi)), ci_ub = I(yi + crit * sqrt(vi)))
}

# ---------------------------------------------------------------------------
# expected values per kind
# ---------------------------------------------------------------------------

run_uni <- function(yi, vi, s, subset = NULL, mods = NULL, data = NULL) {
  args <- list(yi = yi, vi = vi, method = s$method, test = s$test, level = s$level)
  if (!is.null(subset)) args$subset <- subset
  if (!is.null(mods)) { args$mods <- mods; args$data <- data }
  collect(do.call(rma, args))
}

expected_pool <- function(d, s) {
  if (s$method == "MH" || s$method == "PETO") {
    bi <- d$n1i - d$ai; di <- d$n2i - d$ci
    if (s$method == "MH") {
      res <- collect(rma.mh(ai = d$ai, bi = bi, ci = d$ci, di = di,
                            measure = s$measure, add = s$add, to = s$to,
                            drop00 = s$drop00, level = s$level))
    } else {
      res <- collect(rma.peto(ai = d$ai, bi = bi, ci = d$ci, di = di,
                              add = s$add, to = s$to, drop00 = s$drop00,
                              level = s$level))
    }
    out <- fit_fields(res, s$measure)
    out$studies <- studies_block(res$yi.f, res$vi.f, weights_full(res), s$level)
    return(out)
  }
  es <- calc_es(d, s)
  res <- run_uni(es$yi, es$vi, s)
  out <- fit_fields(res, s$measure, fit_ni(d, res))
  out$studies <- studies_block(es$yi, es$vi, weights_full(res), s$level)
  out
}

expected_subgroup <- function(d, s) {
  es <- calc_es(d, s)          # one escalc over the whole table
  g <- as.character(d[[s$subgroup]])
  levs <- sort(unique(g))
  overall <- run_uni(es$yi, es$vi, s)
  sub <- list(); est <- c(); se <- c()
  for (lv in levs) {
    sel <- g == lv
    if (all(is.na(es$yi[sel]))) {
      .W$w <- c(.W$w, paste0("level ", lv, ": no study with an effect size"))
      next
    }
    r <- run_uni(es$yi[sel], es$vi[sel], s)
    f <- c(list(level = lv), fit_fields(r, s$measure, fit_ni(d, r, sel)))
    f$studies <- list(index = I(which(sel) - 1L),
                      weight = I(weights_full(r)))
    sub[[length(sub) + 1L]] <- f
    est <- c(est, c(r$beta)); se <- c(se, r$se)
  }
  gf <- factor(g)
  fe <- collect(rma(es$yi, es$vi, mods = ~gf, method = "FE"))
  btw <- collect(rma(yi = est, sei = se, method = "FE"))
  out <- list(
    overall = c(fit_fields(overall, s$measure, fit_ni(d, overall)),
                list(studies = studies_block(es$yi, es$vi, weights_full(overall), s$level))),
    subgroups = sub,
    test_between_fe = list(q = num(fe$QM), df = num(fe$QMdf[1]), pval = num(fe$QMp)),
    test_between_re = list(q = num(btw$QE), df = num(btw$k - 1), pval = num(btw$QEp))
  )
  out
}

expected_metareg <- function(d, s) {
  es <- calc_es(d, s)
  dd <- d
  dd$yi <- as.vector(es$yi); dd$vi <- as.vector(es$vi)
  fml <- as.formula(paste("~", paste(s$mods, collapse = " + ")))
  res <- collect(rma(yi, vi, mods = fml, data = dd, method = s$method,
                     test = s$test, level = s$level))
  nm <- rownames(res$beta)
  coefs <- lapply(seq_along(nm), function(j) list(
    name = nm[j], estimate = num(res$beta[j]), se = num(res$se[j]),
    stat = num(res$zval[j]), pval = num(res$pval[j]),
    ci_lb = num(res$ci.lb[j]), ci_ub = num(res$ci.ub[j])
  ))
  fe <- res$method %in% FE_METHODS
  list(
    model = if (fe) "FE" else "RE",
    k = res$k, p = res$p,
    coefficients = coefs,
    qm = num(res$QM), qm_df = num(res$QMdf[1]), qm_df2 = num(res$QMdf[2]),
    qm_pval = num(res$QMp),
    df = if (res$test %in% c("knha", "t", "adhoc")) num(res$ddf) else NULL,
    tau2 = num(res$tau2), tau2_se = num(res$se.tau2),
    i2 = num(res$I2), h2 = num(res$H2),
    r2 = if (fe) NULL else num(res$R2),
    q = num(res$QE), q_df = num(res$k - res$p), q_pval = num(res$QEp),
    tight = if (fe) NULL else tight_fields(res, mods = TRUE),
    studies = studies_block(es$yi, es$vi, weights_full(res), s$level)
  )
}

# ---------------------------------------------------------------------------
# spec registry
# ---------------------------------------------------------------------------

SPECS <- list()
SKIPPED <- list()
SEEN <- character(0)

data_json <- function(d) lapply(as.list(d), function(col) I(unname(col)))

add_spec <- function(id, kind, d, s) {
  if (id %in% SEEN) stop("duplicate spec id: ", id)
  SEEN <<- c(SEEN, id)
  .W$w <- character(0)
  exp <- tryCatch(
    switch(kind,
      pool = , mh = , peto = expected_pool(d, s),
      subgroup = expected_subgroup(d, s),
      metareg = expected_metareg(d, s)
    ),
    error = function(e) {
      SKIPPED[[length(SKIPPED) + 1L]] <<- list(id = id, error = conditionMessage(e),
                                                warnings = I(unique(.W$w)))
      message("SKIPPED ", id, ": ", conditionMessage(e))
      NULL
    }
  )
  if (is.null(exp)) return(invisible(NULL))
  SPECS[[length(SPECS) + 1L]] <<- list(
    id = id, kind = kind, data = data_json(d), settings = s,
    expected = exp, warnings = I(unique(.W$w))
  )
  invisible(NULL)
}

pool_kind <- function(method) if (method == "MH") "mh" else if (method == "PETO") "peto" else "pool"

# ---------------------------------------------------------------------------
# data sets (two-arm: study, ai, n1i, ci, n2i [, covariates]; single-arm: study, xi, ni)
# ---------------------------------------------------------------------------

two_arm <- function(study, ai, n1i, ci, n2i, ...) {
  d <- data.frame(study = as.character(study), ai = as.integer(ai), n1i = as.integer(n1i),
                  ci = as.integer(ci), n2i = as.integer(n2i), ...)
  rownames(d) <- NULL
  d
}

bcg <- with(dat.bcg, two_arm(paste(author, year), tpos, tpos + tneg, cpos, cpos + cneg,
                             ablat = as.numeric(ablat), year = as.integer(year),
                             alloc = as.character(alloc)))

egger <- with(dat.egger2001, two_arm(study, ai, n1i, ci, n2i, year = as.integer(year),
                                     era = ifelse(year < 1990, "before1990", "from1990")))

yus <- dat.yusuf1985[complete.cases(dat.yusuf1985[, c("ai", "n1i", "ci", "n2i")]), ]
yusuf6 <- with(yus[yus$table == "6", ], two_arm(trial, ai, n1i, ci, n2i))
yusuf9 <- with(yus[yus$table == "9", ], two_arm(trial, ai, n1i, ci, n2i))

hine <- with(dat.hine1989, two_arm(source, ai, n1i, ci, n2i))

collins_pre <- with(dat.collins1985b, two_arm(author, pre.xti, pre.nti, pre.xci, pre.nci,
                                              oedema = as.integer(oedema)))
collins_ped <- with(dat.collins1985b, two_arm(author, ped.xti, fup.nti, ped.xci, fup.nci))

pritz <- with(dat.pritz1997, data.frame(study = as.character(authors), xi = as.integer(xi),
                                        ni = as.integer(ni)))
# single-arm with a zero-event study: the magnesium arm of Egger 2001 (Bertschat 0/22)
egger_arm <- with(dat.egger2001, data.frame(study = as.character(study), xi = as.integer(ai),
                                            ni = as.integer(n1i),
                                            era = ifelse(year < 1990, "before1990", "from1990")))

# thrombectomy RCTs, same content as ../shared/example-data/thrombectomy_rcts.csv
THROMB_CSV <- "trial,year,arm,n,mrs02,mrs01,death,sich,category,region
MR CLEAN,2015,evt,233,76,,,18,anterior_lvo_early,Europe
MR CLEAN,2015,control,267,51,,,17,anterior_lvo_early,Europe
ESCAPE,2015,evt,165,,,,6,anterior_lvo_early,mixed
ESCAPE,2015,control,150,,,,4,anterior_lvo_early,mixed
REVASCAT,2015,evt,103,45,,19,2,anterior_lvo_early,Europe
REVASCAT,2015,control,103,29,,16,2,anterior_lvo_early,Europe
SWIFT PRIME,2015,evt,98,59,,9,0,anterior_lvo_early,mixed
SWIFT PRIME,2015,control,98,,,,3,anterior_lvo_early,mixed
EXTEND-IA,2015,evt,35,25,,3,0,anterior_lvo_early,Oceania
EXTEND-IA,2015,control,35,14,,7,2,anterior_lvo_early,Oceania
THRACE,2016,evt,200,106,,,,anterior_lvo_early,Europe
THRACE,2016,control,202,85,,,,anterior_lvo_early,Europe
THERAPY,2016,evt,55,,,,,anterior_lvo_early,mixed
THERAPY,2016,control,53,,,,,anterior_lvo_early,mixed
PISTE,2017,evt,33,,,,0,anterior_lvo_early,Europe
PISTE,2017,control,32,,,,0,anterior_lvo_early,Europe
DAWN,2018,evt,107,52,,20,6,anterior_lvo_late,mixed
DAWN,2018,control,99,13,,18,3,anterior_lvo_late,mixed
DEFUSE 3,2018,evt,92,41,,13,6,anterior_lvo_late,North America
DEFUSE 3,2018,control,90,15,,23,4,anterior_lvo_late,North America
RESILIENT,2020,evt,111,39,,,5,anterior_lvo_early,South America
RESILIENT,2020,control,110,22,,,5,anterior_lvo_early,South America
BASICS,2021,evt,154,,,59,7,basilar,mixed
BASICS,2021,control,146,,,63,1,basilar,mixed
ATTENTION,2022,evt,226,,,83,12,basilar,Asia
ATTENTION,2022,control,114,,,63,0,basilar,Asia
BAOCHE,2022,evt,110,,,,,basilar,Asia
BAOCHE,2022,control,107,,,,,basilar,Asia
RESCUE-Japan LIMIT,2022,evt,100,14,,18,9,large_core,Asia
RESCUE-Japan LIMIT,2022,control,102,8,,24,5,large_core,Asia
SELECT2,2023,evt,178,,,,,large_core,mixed
SELECT2,2023,control,174,,,,,large_core,mixed
ANGEL-ASPECT,2023,evt,230,,,,14,large_core,Asia
ANGEL-ASPECT,2023,control,225,,,,6,large_core,Asia
TENSION,2023,evt,125,,,,7,large_core,Europe
TENSION,2023,control,128,,,,6,large_core,Europe
MR CLEAN-LATE,2023,evt,255,,,62,17,anterior_lvo_late,Europe
MR CLEAN-LATE,2023,control,247,,,74,4,anterior_lvo_late,Europe
TESLA,2024,evt,152,,,,,large_core,
TESLA,2024,control,148,,,,,large_core,
LASTE,2024,evt,159,,,,,large_core,Europe
LASTE,2024,control,165,,,,,large_core,Europe
ESCAPE-MeVO,2025,evt,255,138,106,34,14,medium_distal,mixed
ESCAPE-MeVO,2025,control,274,161,118,23,6,medium_distal,mixed
DISTAL,2025,evt,271,,,42,16,medium_distal,Europe
DISTAL,2025,control,272,,,38,7,medium_distal,Europe
"
thromb <- read.csv(text = THROMB_CSV, stringsAsFactors = FALSE, check.names = FALSE)
shared_csv <- file.path(OUT, "..", "..", "..", "shared", "example-data", "thrombectomy_rcts.csv")
if (file.exists(shared_csv)) {
  sh <- read.csv(shared_csv, stringsAsFactors = FALSE, check.names = FALSE)
  if (!identical(sh, thromb))
    message("NOTE: ", shared_csv, " differs from the copy embedded in make_fixtures.R")
}
thromb_outcome <- function(outcome) {
  ev <- thromb[thromb$arm == "evt", ]
  co <- thromb[thromb$arm == "control", ]
  co <- co[match(ev$trial, co$trial), ]
  keep <- !is.na(ev[[outcome]]) & !is.na(co[[outcome]])
  ev <- ev[keep, ]; co <- co[keep, ]
  two_arm(ev$trial, ev[[outcome]], ev$n, co[[outcome]], co$n,
          year = as.integer(ev$year), category = ev$category, region = ev$region)
}
thr <- list(mrs02 = thromb_outcome("mrs02"), death = thromb_outcome("death"),
            sich = thromb_outcome("sich"))

# ---------------------------------------------------------------------------
# 1. every measure x method x test at least once (two-arm, inverse variance)
# ---------------------------------------------------------------------------

sweep_data <- list(bcg = bcg, egger2001 = egger, yusuf1985t6 = yusuf6,
                   hine1989 = hine, collins1985bpre = collins_pre)
methods_iv <- c("FE", "DL", "REML", "ML", "PM", "EB", "SJ", "HE", "HS")
i <- 0L
for (measure in c("OR", "RR", "RD")) {
  for (method in methods_iv) {
    for (test in c("z", "knha")) {
      nm <- names(sweep_data)[(i %% length(sweep_data)) + 1L]
      i <- i + 1L
      add_spec(paste(nm, measure, method, test, sep = "_"), "pool", sweep_data[[nm]],
               make_settings(measure, method, test))
    }
  }
}
# a full method sweep of one classic example (bcg, OR, z) for cross-checks
for (method in methods_iv) {
  id <- paste("bcg", "OR", method, "z", sep = "_")
  if (!(id %in% SEEN)) add_spec(id, "pool", bcg, make_settings("OR", method, "z"))
}
add_spec("bcg_RR_REML_z_level90", "pool", bcg, make_settings("RR", "REML", "z", level = 90))
add_spec("bcg_OR_DL_knha_level90", "pool", bcg, make_settings("OR", "DL", "knha", level = 90))

# ---------------------------------------------------------------------------
# 2. zero cells: add / to / drop00
# ---------------------------------------------------------------------------

zero_sets <- list(
  list("yusuf1985t6", yusuf6, "OR", "REML"),
  list("collins1985bped", collins_ped, "OR", "DL"),
  list("yusuf1985t9", yusuf9, "RR", "DL"),
  list("yusuf1985t9", yusuf9, "RD", "REML")
)
for (zs in zero_sets) {
  nm <- zs[[1]]; d <- zs[[2]]; measure <- zs[[3]]; method <- zs[[4]]
  for (to in c("only0", "all", "if0all")) {
    for (drop00 in c(FALSE, TRUE)) {
      add_spec(sprintf("%s_%s_%s_z_add0.5_%s_drop00%s", nm, measure, method, to,
                       if (drop00) "T" else "F"),
               "pool", d, make_settings(measure, method, "z", add = 0.5, to = to, drop00 = drop00))
    }
  }
  add_spec(sprintf("%s_%s_%s_z_add0.25_only0_drop00F", nm, measure, method), "pool", d,
           make_settings(measure, method, "z", add = 0.25, to = "only0", drop00 = FALSE))
  add_spec(sprintf("%s_%s_%s_z_add0.25_all_drop00T", nm, measure, method), "pool", d,
           make_settings(measure, method, "z", add = 0.25, to = "all", drop00 = TRUE))
  # to = "none": studies with a zero cell get yi/vi = NA and are left out
  add_spec(sprintf("%s_%s_%s_z_none", nm, measure, method), "pool", d,
           make_settings(measure, method, "z", add = 0.5, to = "none", drop00 = FALSE))
}
# to = none / all / if0all on data without zero cells
add_spec("bcg_OR_DL_z_none", "pool", bcg, make_settings("OR", "DL", "z", to = "none"))
add_spec("bcg_OR_DL_z_add0.5_all", "pool", bcg, make_settings("OR", "DL", "z", to = "all"))
add_spec("bcg_OR_DL_z_add0.5_if0all", "pool", bcg, make_settings("OR", "DL", "z", to = "if0all"))
add_spec("egger2001_OR_REML_knha_add0.25_if0all", "pool", egger,
         make_settings("OR", "REML", "knha", add = 0.25, to = "if0all"))
add_spec("egger2001_RD_DL_z_none", "pool", egger, make_settings("RD", "DL", "z", to = "none"))

# ---------------------------------------------------------------------------
# 3. Mantel-Haenszel and Peto (metafor defaults: add 0.5, to only0, drop00 TRUE
#    for the per-study yi/vi; the MH/Peto estimator itself uses the raw counts)
# ---------------------------------------------------------------------------

for (measure in c("OR", "RR", "RD")) {
  add_spec(paste("yusuf1985t9", measure, "MH", sep = "_"), "mh", yusuf9, make_settings(measure, "MH"))
  add_spec(paste("egger2001", measure, "MH", sep = "_"), "mh", egger, make_settings(measure, "MH"))
  add_spec(paste("collins1985bped", measure, "MH", sep = "_"), "mh", collins_ped, make_settings(measure, "MH"))
}
add_spec("bcg_OR_MH", "mh", bcg, make_settings("OR", "MH"))
add_spec("bcg_RR_MH_level90", "mh", bcg, make_settings("RR", "MH", level = 90))
add_spec("yusuf1985t6_OR_MH_drop00F", "mh", yusuf6, make_settings("OR", "MH", drop00 = FALSE))
add_spec("yusuf1985t6_RR_MH_add0.25_all", "mh", yusuf6, make_settings("RR", "MH", add = 0.25, to = "all"))
add_spec("yusuf1985t6_RD_MH_none", "mh", yusuf6, make_settings("RD", "MH", to = "none"))

add_spec("yusuf1985t9_OR_PETO", "peto", yusuf9, make_settings("OR", "PETO"))
add_spec("yusuf1985t6_OR_PETO", "peto", yusuf6, make_settings("OR", "PETO"))
add_spec("yusuf1985t6_OR_PETO_drop00F", "peto", yusuf6, make_settings("OR", "PETO", drop00 = FALSE))
add_spec("egger2001_OR_PETO", "peto", egger, make_settings("OR", "PETO"))
add_spec("collins1985bped_OR_PETO", "peto", collins_ped, make_settings("OR", "PETO"))
add_spec("bcg_OR_PETO", "peto", bcg, make_settings("OR", "PETO"))

# ---------------------------------------------------------------------------
# 4. proportions (single arm)
# ---------------------------------------------------------------------------

for (measure in SINGLE) {
  for (mt in list(c("DL", "z"), c("REML", "z"), c("FE", "z"), c("REML", "knha"), c("DL", "knha"))) {
    add_spec(paste("pritz1997", measure, mt[1], mt[2], sep = "_"), "pool", pritz,
             make_settings(measure, mt[1], mt[2]))
  }
  add_spec(paste("eggerarm", measure, "DL", "z", sep = "_"), "pool", egger_arm,
           make_settings(measure, "DL", "z"))
  add_spec(paste("eggerarm", measure, "REML", "knha", sep = "_"), "pool", egger_arm,
           make_settings(measure, "REML", "knha"))
}
add_spec("eggerarm_PLO_REML_z_add0.5_all", "pool", egger_arm, make_settings("PLO", "REML", "z", to = "all"))
add_spec("eggerarm_PLO_DL_z_add0.25_if0all", "pool", egger_arm,
         make_settings("PLO", "DL", "z", add = 0.25, to = "if0all"))
add_spec("eggerarm_PLN_ML_z", "pool", egger_arm, make_settings("PLN", "ML", "z"))
add_spec("eggerarm_PR_PM_z", "pool", egger_arm, make_settings("PR", "PM", "z"))
add_spec("eggerarm_PAS_REML_z_add0.5_only0", "pool", egger_arm,
         make_settings("PAS", "REML", "z", add = 0.5, to = "only0"))
add_spec("eggerarm_PFT_REML_z_add0.5_only0", "pool", egger_arm,
         make_settings("PFT", "REML", "z", add = 0.5, to = "only0"))
add_spec("eggerarm_PLO_REML_z_none", "pool", egger_arm, make_settings("PLO", "REML", "z", to = "none"))
add_spec("eggerarm_PR_REML_z_none", "pool", egger_arm, make_settings("PR", "REML", "z", to = "none"))
add_spec("pritz1997_PFT_REML_z_level90", "pool", pritz, make_settings("PFT", "REML", "z", level = 90))

# ---------------------------------------------------------------------------
# 5. thrombectomy RCTs (outcomes with both arms reported)
# ---------------------------------------------------------------------------

for (oc in names(thr)) {
  d <- thr[[oc]]
  add_spec(paste("thromb", oc, "OR_REML_z", sep = "_"), "pool", d, make_settings("OR", "REML", "z"))
  add_spec(paste("thromb", oc, "OR_DL_knha", sep = "_"), "pool", d, make_settings("OR", "DL", "knha"))
  add_spec(paste("thromb", oc, "RR_REML_z", sep = "_"), "pool", d, make_settings("RR", "REML", "z"))
  add_spec(paste("thromb", oc, "RD_DL_z", sep = "_"), "pool", d, make_settings("RD", "DL", "z"))
  add_spec(paste("thromb", oc, "OR_MH", sep = "_"), "mh", d, make_settings("OR", "MH"))
}
add_spec("thromb_sich_OR_PETO", "peto", thr$sich, make_settings("OR", "PETO"))

# ---------------------------------------------------------------------------
# 6. subgroups
# ---------------------------------------------------------------------------

add_spec("bcg_OR_REML_z_by_alloc", "subgroup", bcg,
         make_settings("OR", "REML", "z", subgroup = "alloc"))
add_spec("bcg_RR_DL_knha_by_alloc", "subgroup", bcg,
         make_settings("RR", "DL", "knha", subgroup = "alloc"))
add_spec("egger2001_OR_DL_z_by_era", "subgroup", egger,
         make_settings("OR", "DL", "z", subgroup = "era"))
add_spec("collins1985bpre_OR_REML_z_by_oedema", "subgroup", collins_pre,
         make_settings("OR", "REML", "z", subgroup = "oedema"))
add_spec("eggerarm_PLO_REML_z_by_era", "subgroup", egger_arm,
         make_settings("PLO", "REML", "z", subgroup = "era"))
add_spec("eggerarm_PFT_DL_z_by_era", "subgroup", egger_arm,
         make_settings("PFT", "DL", "z", subgroup = "era"))
add_spec("thromb_sich_OR_REML_z_by_category", "subgroup", thr$sich,
         make_settings("OR", "REML", "z", subgroup = "category"))
add_spec("thromb_mrs02_OR_DL_z_by_category", "subgroup", thr$mrs02,
         make_settings("OR", "DL", "z", subgroup = "category"))
add_spec("thromb_death_RR_REML_knha_by_category", "subgroup", thr$death,
         make_settings("RR", "REML", "knha", subgroup = "category"))

# ---------------------------------------------------------------------------
# 7. meta-regression
# ---------------------------------------------------------------------------

add_spec("bcg_OR_REML_z_mods_ablat", "metareg", bcg, make_settings("OR", "REML", "z", mods = "ablat"))
add_spec("bcg_OR_REML_knha_mods_ablat", "metareg", bcg, make_settings("OR", "REML", "knha", mods = "ablat"))
add_spec("bcg_OR_DL_z_mods_year", "metareg", bcg, make_settings("OR", "DL", "z", mods = "year"))
add_spec("bcg_OR_REML_z_mods_alloc", "metareg", bcg, make_settings("OR", "REML", "z", mods = "alloc"))
add_spec("bcg_OR_ML_knha_mods_ablat_year", "metareg", bcg,
         make_settings("OR", "ML", "knha", mods = c("ablat", "year")))
add_spec("bcg_OR_FE_z_mods_alloc", "metareg", bcg, make_settings("OR", "FE", "z", mods = "alloc"))
add_spec("bcg_RR_PM_z_mods_ablat", "metareg", bcg, make_settings("RR", "PM", "z", mods = "ablat"))
add_spec("bcg_RR_REML_knha_mods_ablat_alloc", "metareg", bcg,
         make_settings("RR", "REML", "knha", mods = c("ablat", "alloc")))
add_spec("thromb_sich_OR_REML_z_mods_year", "metareg", thr$sich,
         make_settings("OR", "REML", "z", mods = "year"))
add_spec("thromb_sich_OR_REML_z_mods_category", "metareg", thr$sich,
         make_settings("OR", "REML", "z", mods = "category"))
add_spec("thromb_death_OR_DL_knha_mods_year", "metareg", thr$death,
         make_settings("OR", "DL", "knha", mods = "year"))
add_spec("thromb_mrs02_OR_REML_z_mods_year", "metareg", thr$mrs02,
         make_settings("OR", "REML", "z", mods = "year"))

# ---------------------------------------------------------------------------
# write
# ---------------------------------------------------------------------------

# every double at full precision (see fixture_common.R)
write_fixture_json(full_precision(SPECS), file.path(OUT, "fixtures.json"))

kinds <- vapply(SPECS, function(s) s$kind, "")
meta <- c(versions("tests/reference/make_fixtures.R"), list(
  n_specs = length(SPECS),
  specs_per_kind = as.list(table(factor(kinds, levels = c("pool", "mh", "peto", "subgroup", "metareg")))),
  skipped = SKIPPED
))
write_fixture_json(meta, file.path(OUT, "fixtures_meta.json"))
message(length(SPECS), " specs written to ", file.path(OUT, "fixtures.json"),
        "; ", length(SKIPPED), " skipped")
