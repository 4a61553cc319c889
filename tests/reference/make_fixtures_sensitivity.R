#!/usr/bin/env Rscript
# Reference fixtures for metareview's sensitivity analyses, computed with R's metafor.
#
# How to rerun (from the repository root; needs R >= 4 with metafor 3.8.1, metadat
# and jsonlite, e.g. the Debian packages r-cran-metafor r-cran-metadat r-cran-jsonlite):
#
#   Rscript tests/reference/make_fixtures_sensitivity.R
#
# It reads the thrombectomy counts from data/raw/evt-vs-medical-rcts/{extraction,studies}.csv
# and writes tests/reference/fixtures_sensitivity.json. The output is deterministic (no
# random numbers, no dates, C collation, fixed spec order): rerunning it gives identical
# bytes. tests/test_sensitivity.py compares metareview.sensitivity against every field.
#
# One spec = one data set x measure x method x test. For each spec the full-data model is
# fitted as metafor does it
#   inverse variance: es <- escalc(measure, ..., add, to, drop00); rma(es$yi, es$vi, method, test)
#   Mantel-Haenszel:  rma.mh(ai, bi, ci, di, measure, add, to, drop00)
#   Peto:             rma.peto(ai, bi, ci, di, add, to, drop00)
# and `expected` holds (studies in the fit only, i.e. options(na.action = "na.omit")):
#   leave1out: leave1out(res) -> study, estimate, se, stat (zval or tval), pval, ci_lb,
#              ci_ub, q (Q), q_pval (Qp), tau2 (null for FE/MH/PETO, which metafor does not
#              report), i2, h2; back = leave1out(res, transf = <back-transform>)
#              estimate/ci_lb/ci_ub (for PFT: transf.ipft.hm with the ni of the studies in
#              each fit, computed row by row)
#   cumul:     cumul(res, order = <rank of the settings$order columns>) with the same
#              fields (study = the study added at that step, in cumulative order)
#   baujat:    baujat(res) -> study, x, y (drawn on a null device)
#   influence: influence(res) (inverse-variance models only) -> rstudent, dffits, cook_d,
#              cov_r, tau2_del, qe_del, hat, weight (percent), dfbs (intercept), inf
#              (TRUE where metafor marks the study with "*")
# The order for cumul is "sort by the settings$order columns" (R's order(), NA last, ties
# in input order); it is passed to cumul() as a rank vector, so cumul's order(order) is it.

script_dir <- function() {
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 1L) dirname(normalizePath(f)) else file.path("tests", "reference")
}
OUT <- script_dir()
REPO <- normalizePath(file.path(OUT, "..", ".."))
# session setup, SINGLE, collect(), back_transf(), full_precision(), write_fixture_json()
source(file.path(OUT, "fixture_common.R"))
pdf(NULL) # baujat() draws; keep it off screen and off disk

dbl <- function(x) I(as.numeric(unname(x)))

# ---------------------------------------------------------------------------
# data sets (two-arm: study, label, year, ai, n1i, ci, n2i; single-arm: study, label, xi, ni)
# ---------------------------------------------------------------------------

two_arm <- function(study, label, year, ai, n1i, ci, n2i) {
  d <- data.frame(study = as.character(study), label = as.character(label),
                  year = as.integer(year), ai = as.integer(ai), n1i = as.integer(n1i),
                  ci = as.integer(ci), n2i = as.integer(n2i))
  rownames(d) <- NULL
  d
}

bcg <- with(dat.bcg, two_arm(paste0("bcg", trial), author, year, tpos, tpos + tneg,
                             cpos, cpos + cneg))

col <- dat.collins1985a[complete.cases(dat.collins1985a[, c("d.xti", "d.xci")]), ]
collins <- with(col, two_arm(paste0("collins", id), trial, year, d.xti, nti, d.xci, nci))

pritz <- with(dat.pritz1997, data.frame(study = paste0("pritz", study),
                                        label = as.character(authors),
                                        xi = as.integer(xi), ni = as.integer(ni)))

# thrombectomy RCTs: studies.csv order, as metareview.tables.two_arm_table builds them
evt_dir <- file.path(REPO, "data", "raw", "evt-vs-medical-rcts")
ext <- read.csv(file.path(evt_dir, "extraction.csv"), stringsAsFactors = FALSE)
stu <- read.csv(file.path(evt_dir, "studies.csv"), stringsAsFactors = FALSE)
evt_outcome <- function(outcome) {
  rows <- list()
  for (j in seq_len(nrow(stu))) {
    sid <- stu$study_id[j]
    a <- ext[ext$study_id == sid & ext$outcome == outcome & ext$arm == "evt", ]
    c <- ext[ext$study_id == sid & ext$outcome == outcome & ext$arm == "control", ]
    if (nrow(a) == 1L && nrow(c) == 1L) {
      rows[[length(rows) + 1L]] <- two_arm(sid, stu$label[j], stu$year[j],
                                           a$events, a$total, c$events, c$total)
    }
  }
  do.call(rbind, rows)
}
evt <- list(mrs02 = evt_outcome("mrs02"), death = evt_outcome("death"),
            sich = evt_outcome("sich"))

# ---------------------------------------------------------------------------
# one spec
# ---------------------------------------------------------------------------

make_settings <- function(measure, method, test = "z", order, add = NULL, to = "only0",
                          drop00 = NULL, level = 95) {
  if (is.null(add)) add <- if (measure %in% c("PAS", "PFT")) 0 else 0.5
  if (is.null(drop00)) drop00 <- method %in% c("MH", "PETO")
  if (measure %in% SINGLE) drop00 <- FALSE
  list(measure = measure, method = method, test = test, add = add, to = to,
       drop00 = drop00, level = level, order = I(order))
}

fit_model <- function(d, s) {
  if (s$method %in% c("MH", "PETO")) {
    bi <- d$n1i - d$ai
    di <- d$n2i - d$ci
    if (s$method == "MH") {
      return(collect(rma.mh(ai = d$ai, bi = bi, ci = d$ci, di = di, measure = s$measure,
                            add = s$add, to = s$to, drop00 = s$drop00, level = s$level,
                            slab = d$study)))
    }
    return(collect(rma.peto(ai = d$ai, bi = bi, ci = d$ci, di = di, add = s$add,
                            to = s$to, drop00 = s$drop00, level = s$level,
                            slab = d$study)))
  }
  if (s$measure %in% SINGLE) {
    es <- collect(escalc(measure = s$measure, xi = d$xi, ni = d$ni, add = s$add, to = s$to))
  } else {
    es <- collect(escalc(measure = s$measure, ai = d$ai, bi = d$n1i - d$ai, ci = d$ci,
                         di = d$n2i - d$ci, add = s$add, to = s$to, drop00 = s$drop00))
  }
  collect(rma(es$yi, es$vi, method = s$method, test = s$test, level = s$level,
              slab = d$study))
}

# the list.rma of leave1out/cumul as JSON columns
list_fields <- function(l, back) {
  stat <- if (!is.null(l$zval)) l$zval else l$tval
  pval <- if (!is.null(l$pval)) l$pval else l$pvals
  list(
    study = I(as.character(l$slab)),
    estimate = dbl(l$estimate), se = dbl(l$se), stat = dbl(stat), pval = dbl(pval),
    ci_lb = dbl(l$ci.lb), ci_ub = dbl(l$ci.ub),
    q = dbl(l$Q), q_pval = dbl(l$Qp),
    tau2 = if (is.null(l$tau2)) NULL else dbl(l$tau2),
    i2 = dbl(l$I2), h2 = dbl(l$H2),
    back = back
  )
}

back_block <- function(estimate, ci_lb, ci_ub) {
  list(estimate = dbl(estimate), ci_lb = dbl(ci_lb), ci_ub = dbl(ci_ub))
}

# back-transformed rows: metafor's transf for fixed transforms; transf.ipft.hm row by
# row with the ni of the studies in each fit
back_rows <- function(fun, res, s, d, l, subsets) {
  tf <- back_transf(s$measure)
  if (is.null(tf)) return(back_block(l$estimate, l$ci.lb, l$ci.ub))
  if (s$measure != "PFT") {
    b <- collect(fun(res, transf = tf))
    return(back_block(b$estimate, b$ci.lb, b$ci.ub))
  }
  est <- lb <- ub <- numeric(length(subsets))
  for (j in seq_along(subsets)) {
    ni <- d$ni[subsets[[j]]]
    est[j] <- transf.ipft.hm(l$estimate[j], targs = list(ni = ni))
    v <- sort(c(transf.ipft.hm(l$ci.lb[j], targs = list(ni = ni)),
                transf.ipft.hm(l$ci.ub[j], targs = list(ni = ni))))
    lb[j] <- v[1]
    ub[j] <- v[2]
  }
  back_block(est, lb, ub)
}

# Leave-one-out rows that metafor's default Fisher scoring leaves NA (not converged),
# refitted as metafor's documentation advises, control = list(stepadj = 0.5, maxiter =
# 1000), on the same effect sizes: metareview finds that optimum (issue 18) and its test
# compares those rows with this refit
stepadj_rows <- function(d, s, l, subsets) {
  if (!(s$method %in% c("ML", "REML", "EB"))) return(NULL)
  rows <- which(is.na(l$estimate))
  if (!length(rows)) return(NULL)
  if (s$measure %in% SINGLE) {
    es <- escalc(measure = s$measure, xi = d$xi, ni = d$ni, add = s$add, to = s$to)
  } else {
    es <- escalc(measure = s$measure, ai = d$ai, bi = d$n1i - d$ai, ci = d$ci,
                 di = d$n2i - d$ci, add = s$add, to = s$to, drop00 = s$drop00)
  }
  tf <- back_transf(s$measure)
  lapply(rows, function(j) {
    sub <- es[subsets[[j]], ]
    r <- rma(sub$yi, sub$vi, method = s$method, test = s$test, level = s$level,
             control = list(stepadj = 0.5, maxiter = 1000))
    p <- if (is.null(tf) || s$measure == "PFT") predict(r) else predict(r, transf = tf)
    list(row = j - 1, estimate = dbl(r$b[1]), se = dbl(r$se), stat = dbl(r$zval),
         pval = dbl(r$pval), ci_lb = dbl(r$ci.lb), ci_ub = dbl(r$ci.ub), q = dbl(r$QE),
         q_pval = dbl(r$QEp), tau2 = dbl(r$tau2), i2 = dbl(r$I2), h2 = dbl(r$H2),
         back = back_block(p$pred, p$ci.lb, p$ci.ub))
  })
}

rank_of <- function(d, cols) {
  o <- do.call(order, c(unname(as.list(d[cols])), list(na.last = TRUE)))
  r <- integer(nrow(d))
  r[o] <- seq_len(nrow(d))
  list(rank = r, order = o)
}

expected_for <- function(d, s) {
  res <- fit_model(d, s)
  inc <- which(res$not.na)                 # input rows in the fit (0/1-based below)
  out <- list()

  # leave-one-out
  l <- collect(leave1out(res))
  subsets <- lapply(inc, function(i) setdiff(inc, i))
  out$leave1out <- list_fields(l, back_rows(leave1out, res, s, d, l, subsets))
  refits <- stepadj_rows(d, s, l, subsets)
  if (!is.null(refits)) out$leave1out_stepadj <- refits

  # cumulative
  rk <- rank_of(d, s$order)
  cm <- collect(do.call(cumul, list(res, order = rk$rank)))
  steps <- rk$order[rk$order %in% inc]
  csub <- lapply(seq_along(steps), function(j) steps[seq_len(j)])
  cumul_tf <- function(x, transf) do.call(cumul, list(x, order = rk$rank, transf = transf))
  out$cumul <- list_fields(cm, back_rows(cumul_tf, res, s, d, cm, csub))

  # Baujat
  bj <- collect(baujat(res))
  out$baujat <- list(study = I(as.character(bj$slab)), x = dbl(bj$x), y = dbl(bj$y))

  # influence (rma.uni only)
  if (!(s$method %in% c("MH", "PETO"))) {
    inf <- collect(influence(res))
    f <- inf$inf
    if (!is.null(refits)) {
      # the rows left NA by a failed refit, from the same model with the step halved
      # (its refits then converge; the rows of the other studies are not taken from it)
      res2 <- rma(res$yi.f, res$vi.f, method = s$method, test = s$test, level = s$level,
                  slab = res$slab, control = list(stepadj = 0.5, maxiter = 1000))
      f2 <- collect(influence(res2))
      bj2 <- collect(baujat(res2))
      rows <- which(is.na(f$rstudent))
      out$influence_stepadj <- lapply(rows, function(j) list(
        row = j - 1, rstudent = dbl(f2$inf$rstudent[j]), dffits = dbl(f2$inf$dffits[j]),
        cook_d = dbl(f2$inf$cook.d[j]), cov_r = dbl(f2$inf$cov.r[j]),
        tau2_del = dbl(f2$inf$tau2.del[j]), qe_del = dbl(f2$inf$QE.del[j]),
        dfbs = dbl(f2$dfbs$intrcpt[j]), baujat_y = dbl(bj2$y[j])))
    }
    out$influence <- list(
      study = I(as.character(f$slab)),
      rstudent = dbl(f$rstudent), dffits = dbl(f$dffits), cook_d = dbl(f$cook.d),
      cov_r = dbl(f$cov.r), tau2_del = dbl(f$tau2.del), qe_del = dbl(f$QE.del),
      hat = dbl(f$hat), weight = dbl(f$weight), dfbs = dbl(inf$dfbs$intrcpt),
      inf = I(f$inf == "*")
    )
  }
  out$full <- list(k = res$k, estimate = as.numeric(res$beta), se = res$se,
                   tau2 = res$tau2, q = res$QE)
  out
}

# ---------------------------------------------------------------------------
# spec registry
# ---------------------------------------------------------------------------

SPECS <- list()
SKIPPED <- list()
add_spec <- function(id, d, s) {
  if (id %in% vapply(SPECS, function(x) x$id, "")) stop("duplicate spec id: ", id)
  .W$w <- character(0)
  exp <- tryCatch(expected_for(d, s), error = function(e) {
    SKIPPED[[length(SKIPPED) + 1L]] <<- list(id = id, error = conditionMessage(e))
    message("SKIPPED ", id, ": ", conditionMessage(e))
    NULL
  })
  if (is.null(exp)) return(invisible(NULL))
  SPECS[[length(SPECS) + 1L]] <<- list(
    id = id, data = lapply(as.list(d), function(col) I(unname(col))), settings = s,
    expected = exp, warnings = I(unique(.W$w))
  )
  invisible(NULL)
}

spec <- function(name, d, measure, method, test, order, ...) {
  add_spec(paste(name, measure, method, test, sep = "_"), d,
           make_settings(measure, method, test, order, ...))
}

BY_YEAR <- c("year", "label")

# BCG trials (k = 13): every estimator, both tests, every model family
for (method in c("FE", "DL", "REML", "PM")) {
  for (test in c("z", "knha")) spec("bcg", bcg, "OR", method, test, BY_YEAR)
}
for (method in c("ML", "EB", "SJ", "HE", "HS")) spec("bcg", bcg, "OR", method, "z", BY_YEAR)
spec("bcg", bcg, "RR", "REML", "z", BY_YEAR)
spec("bcg", bcg, "RR", "DL", "knha", BY_YEAR)
spec("bcg", bcg, "RD", "DL", "z", BY_YEAR)
spec("bcg", bcg, "RD", "REML", "knha", BY_YEAR)
for (measure in c("OR", "RR", "RD")) spec("bcg", bcg, measure, "MH", "z", BY_YEAR)
spec("bcg", bcg, "OR", "PETO", "z", BY_YEAR)

# Collins 1985a deaths (k = 24, zero cells, two double-zero trials)
spec("collins", collins, "OR", "REML", "z", BY_YEAR)
spec("collins", collins, "OR", "FE", "z", BY_YEAR)
spec("collins", collins, "RR", "DL", "knha", BY_YEAR)
spec("collins", collins, "RD", "PM", "z", BY_YEAR)
spec("collins", collins, "OR", "MH", "z", BY_YEAR)
spec("collins", collins, "RR", "MH", "z", BY_YEAR)
spec("collins", collins, "RD", "MH", "z", BY_YEAR)
spec("collins", collins, "OR", "PETO", "z", BY_YEAR)
add_spec("collins_OR_MH_z_if0all", collins, make_settings("OR", "MH", "z", BY_YEAR, to = "if0all"))
add_spec("collins_OR_PETO_z_none", collins, make_settings("OR", "PETO", "z", BY_YEAR, to = "none"))

# Pritz 1997 proportions (k = 14; ordered by sample size, ties in input order)
BY_NI <- c("ni")
for (method in c("FE", "DL", "REML", "PM")) spec("pritz", pritz, "PLO", method, "z", BY_NI)
spec("pritz", pritz, "PLO", "REML", "knha", BY_NI)
spec("pritz", pritz, "PR", "DL", "z", BY_NI)
spec("pritz", pritz, "PFT", "REML", "z", BY_NI)

# thrombectomy RCTs (data/raw/evt-vs-medical-rcts), EVT vs control
for (method in c("FE", "DL", "REML")) spec("evt_mrs02", evt$mrs02, "OR", method, "z", BY_YEAR)
spec("evt_mrs02", evt$mrs02, "OR", "REML", "knha", BY_YEAR)
spec("evt_mrs02", evt$mrs02, "RR", "REML", "z", BY_YEAR)
spec("evt_mrs02", evt$mrs02, "RD", "DL", "z", BY_YEAR)
spec("evt_mrs02", evt$mrs02, "OR", "MH", "z", BY_YEAR)
spec("evt_mrs02", evt$mrs02, "OR", "PETO", "z", BY_YEAR)
spec("evt_death", evt$death, "OR", "REML", "z", BY_YEAR)
spec("evt_death", evt$death, "OR", "PM", "knha", BY_YEAR)
spec("evt_death", evt$death, "RR", "MH", "z", BY_YEAR)
spec("evt_sich", evt$sich, "OR", "REML", "z", BY_YEAR)
spec("evt_sich", evt$sich, "OR", "DL", "knha", BY_YEAR)
spec("evt_sich", evt$sich, "RR", "REML", "z", BY_YEAR)
spec("evt_sich", evt$sich, "RD", "FE", "z", BY_YEAR)
spec("evt_sich", evt$sich, "OR", "MH", "z", BY_YEAR)
spec("evt_sich", evt$sich, "RD", "MH", "z", BY_YEAR)
spec("evt_sich", evt$sich, "OR", "PETO", "z", BY_YEAR)

# ---------------------------------------------------------------------------
# write (every double at full precision; see fixture_common.R)
# ---------------------------------------------------------------------------

doc <- c(versions("tests/reference/make_fixtures_sensitivity.R"),
         list(skipped = SKIPPED, specs = SPECS))
write_fixture_json(full_precision(doc), file.path(OUT, "fixtures_sensitivity.json"))
message(length(SPECS), " specs written to ", file.path(OUT, "fixtures_sensitivity.json"),
        "; ", length(SKIPPED), " skipped")
