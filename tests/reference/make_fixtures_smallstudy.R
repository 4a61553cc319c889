#!/usr/bin/env Rscript
# Reference fixtures for metareview's small-study-effect tests and funnel plots
# (metareview/smallstudy.py), computed with R's metafor.
#
# Rerun from the repository root (R >= 4, metafor 3.8.1, metadat, jsonlite):
#
#   Rscript tests/reference/make_fixtures_smallstudy.R
#
# It writes tests/reference/fixtures_smallstudy.json: {"meta": {...}, "specs": [...]}.
# The output is deterministic (no random numbers, no dates, C collation, fixed spec
# order); numbers are written at full double precision, NA as null.
#
# Spec kinds and what "expected" holds (every value straight from metafor or from base R):
#   regtest   metafor::regtest(rma(yi, vi, method, test), model, predictor):
#             k, stat (= zval, a t under lm / knha), pval, df (ddf; null for z),
#             limit_estimate/limit_ci_lb/limit_ci_ub (est, ci.lb, ci.ub; null when
#             metafor gives none), coefficients (intercept then predictor: estimate, se,
#             stat, pval) and tau2 (residual tau2 of the rma version; null for lm).
#   peters    Peters et al. (2006): lm(yi ~ I(1/n), weights = 1 / (1/E + 1/F)), E and F
#             the total events and non-events over both arms (xi and ni - xi for one
#             arm), studies with E = 0 or F = 0 left out. Computed as metafor's
#             regtest(yi, vi = 1/E + 1/F, ni = n, model = "lm", predictor = "ninv")
#             and checked (stopifnot) against the lm() above.
#   harbord   Harbord, Egger & Sterne (2006): Z = ai - (ai+ci) n1i/N and
#             V = n1i n2i (ai+ci)(bi+di) / (N^2 (N-1)) from the raw counts; studies with
#             V = 0 left out; lm(Z/sqrt(V) ~ sqrt(V)); its intercept is the asymmetry
#             ("bias") coefficient, its slope the limit estimate. Checked (stopifnot)
#             against metafor's regtest(model = "lm", predictor = "sei") on Peto's log
#             odds ratios escalc(measure = "PETO", add = 0): yi = Z/V, vi = 1/V.
#   ranktest  metafor::ranktest: tau, pval, and whether cor.test could be exact (no
#             ties) -- metafor 3.8.1 asks for exact = TRUE; with ties R falls back to
#             the normal approximation (with a warning).
#   trimfill  metafor::trimfill(rma(yi, vi, method), side, estimator): side, k0,
#             se_k0, p_k0 (R0 only), iterations (from verbose = TRUE), filled (yi, vi
#             of the filled studies in metafor's order; mirror_of = the study each one
#             mirrors, taken from the order trimfill sorts in) and adjusted: the
#             refitted model's pool fields (its coef, se, CI, z, p, tau2, se.tau2,
#             I2, H2, Q, predict() PI and the back-transformed estimate/CI).
#   funnel    what metafor::funnel(res) draws: the points (x = yi, y = sei, and fill
#             for a trim-and-fill object), refline = the estimate, the pseudo 95% CI
#             at the bottom of the plot (ylim[1] = max(sei) widened by 10%), and the
#             default xlim; and for the contour-enhanced funnel
#             funnel(res, level = c(90, 95, 99), refline = 0) its bottom bounds and xlim.
#             These last values use funnel.rma's own formulas (R/funnel.rma.r).
#
# Data: metadat's dat.egger2001, dat.bcg, dat.hackshaw1998 (yi/vi only), dat.lau1992,
# dat.collins1985a (deaths and bleeding), dat.pritz1997 and dat.debruin2009 (single
# proportions), and the thrombectomy counts in
# data/raw/evt-vs-medical-rcts/extraction.csv (outcomes mrs02, death, sich; arms evt
# and control; studies with both arms, in the order of the file).

script_dir <- function() {
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 1L) dirname(normalizePath(f)) else file.path("tests", "reference")
}
OUT <- script_dir()
REPO <- normalizePath(file.path(OUT, "..", ".."))
# session setup, SINGLE, collect(), full_precision(), write_fixture_json()
source(file.path(OUT, "fixture_common.R"))

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

num <- function(x) {
  if (is.null(x) || length(x) == 0L) return(NA_real_)
  x <- unname(c(x))
  if (length(x) != 1L) stop("num(): expected a scalar")
  as.numeric(x)
}
vec <- function(x) I(unname(as.numeric(x)))

two_arm <- function(study, ai, n1i, ci, n2i) {
  list(study = I(as.character(study)), ai = vec(ai), n1i = vec(n1i), ci = vec(ci),
       n2i = vec(n2i))
}
one_arm <- function(study, xi, ni) {
  list(study = I(as.character(study)), xi = vec(xi), ni = vec(ni))
}
generic <- function(study, yi, vi) {
  list(study = I(as.character(study)), yi = vec(yi), vi = vec(vi))
}

es_settings <- function(measure, add = 0.5, to = "only0", drop00 = FALSE) {
  if (measure %in% c("PAS", "PFT")) add <- 0
  list(measure = measure, add = add, to = to, drop00 = drop00)
}

# escalc on the spec's data (yi/vi data are used as they are)
calc_es <- function(d, s) {
  if (!is.null(d$yi)) {
    out <- data.frame(yi = as.numeric(d$yi), vi = as.numeric(d$vi))
    return(escalc(measure = "GEN", yi = yi, vi = vi, data = out))
  }
  if (s$measure %in% SINGLE) {
    collect(escalc(measure = s$measure, xi = as.numeric(d$xi), ni = as.numeric(d$ni),
                   add = s$add, to = s$to))
  } else {
    ai <- as.numeric(d$ai); ci <- as.numeric(d$ci)
    collect(escalc(measure = s$measure, ai = ai, bi = as.numeric(d$n1i) - ai, ci = ci,
                   di = as.numeric(d$n2i) - ci, add = s$add, to = s$to,
                   drop00 = s$drop00))
  }
}

fit_model <- function(es, method, test = "z") {
  collect(rma(yi, vi, data = es, method = method, test = test))
}

SPECS <- list()
add_spec <- function(id, kind, data, settings, expected) {
  SPECS[[length(SPECS) + 1L]] <<- list(id = id, kind = kind, data = data,
                                       settings = settings, expected = expected,
                                       warnings = I(unique(.W$w)))
  .W$w <- character(0)
}

coef_rows <- function(tab, names) {
  lapply(seq_len(nrow(tab)), function(i) {
    list(name = names[i], estimate = num(tab[i, 1]), se = num(tab[i, 2]),
         stat = num(tab[i, 3]), pval = num(tab[i, 4]))
  })
}

# ---------------------------------------------------------------------------
# spec builders
# ---------------------------------------------------------------------------

spec_regtest <- function(name, d, s, model, predictor, method = "REML", test = "z") {
  es <- calc_es(d, s)
  res <- fit_model(es, method, test)
  r <- collect(regtest(res, model = model, predictor = predictor))
  if (model == "lm") {
    tab <- coef(summary(r$fit))
    tau2 <- NA_real_
  } else {
    tab <- coef(summary(r$fit))  # estimate, se, zval (tval, df under knha), pval, ...
    tab <- tab[, c("estimate", "se", intersect(c("zval", "tval"), names(tab)), "pval")]
    tau2 <- r$fit$tau2
  }
  s2 <- c(s, list(model = model, predictor = predictor, method = method, test = test,
                  level = 95))
  add_spec(sprintf("%s_regtest_%s_%s_%s_%s", name, model, predictor, method, test),
           "regtest", d, s2,
           list(k = res$k, stat = num(r$zval), pval = num(r$pval), df = num(r$ddf),
                limit_estimate = num(r$est), limit_ci_lb = num(r$ci.lb),
                limit_ci_ub = num(r$ci.ub),
                coefficients = coef_rows(tab, c("intrcpt", predictor)),
                tau2 = num(tau2)))
}

spec_peters <- function(name, d, s) {
  es <- calc_es(d, s)
  if (!is.null(d$xi)) {
    ev <- as.numeric(d$xi); nn <- as.numeric(d$ni)
    non <- nn - ev
  } else {
    a <- as.numeric(d$ai); c <- as.numeric(d$ci)
    n1 <- as.numeric(d$n1i); n2 <- as.numeric(d$n2i)
    ev <- a + c; nn <- n1 + n2
    non <- nn - ev
  }
  vp <- 1 / ev + 1 / non
  keep <- is.finite(es$yi) & is.finite(es$vi) & is.finite(vp)
  yi <- c(es$yi)[keep]
  r <- collect(regtest(yi, vi = vp[keep], ni = nn[keep], model = "lm",
                       predictor = "ninv"))
  # the same regression written as in Peters et al. (2006)
  n <- nn[keep]
  chk <- lm(yi ~ I(1 / n), weights = 1 / vp[keep])
  stopifnot(isTRUE(all.equal(unname(coef(summary(chk))), unname(coef(summary(r$fit))),
                             tolerance = 1e-10)))
  add_spec(paste0(name, "_peters"), "peters", d, c(s, list(level = 95)),
           list(k = sum(keep), stat = num(r$zval), pval = num(r$pval), df = num(r$ddf),
                limit_estimate = num(r$est), limit_ci_lb = num(r$ci.lb),
                limit_ci_ub = num(r$ci.ub),
                coefficients = coef_rows(coef(summary(r$fit)), c("intrcpt", "ninv")),
                excluded = I(as.character(d$study[!keep]))))
}

spec_harbord <- function(name, d, s) {
  a <- as.numeric(d$ai); c <- as.numeric(d$ci)
  n1 <- as.numeric(d$n1i); n2 <- as.numeric(d$n2i)
  b <- n1 - a; dd <- n2 - c; N <- n1 + n2
  Z <- a - (a + c) * n1 / N
  V <- n1 * n2 * (a + c) * (b + dd) / (N^2 * (N - 1))
  keep <- is.finite(V) & V > 0
  z <- Z[keep]; v <- V[keep]
  # Harbord et al. (2006): regress Z/sqrt(V) on sqrt(V); intercept = asymmetry
  h <- lm(I(z / sqrt(v)) ~ sqrt(v))
  ht <- coef(summary(h))
  # equivalence with Egger's test (model "lm", predictor "sei") on Peto's log OR
  pe <- escalc(measure = "PETO", ai = a[keep], bi = b[keep], ci = c[keep], di = dd[keep],
               add = 0, to = "none")
  stopifnot(isTRUE(all.equal(c(pe$yi), z / v)), isTRUE(all.equal(c(pe$vi), 1 / v)))
  r <- collect(regtest(pe$yi, pe$vi, model = "lm", predictor = "sei"))
  rt <- coef(summary(r$fit))
  stopifnot(isTRUE(all.equal(unname(rt[2, ]), unname(ht[1, ]), tolerance = 1e-10)),
            isTRUE(all.equal(unname(rt[1, ]), unname(ht[2, ]), tolerance = 1e-10)))
  df <- h$df.residual
  crit <- qt(0.975, df)
  # in the yi-on-sei form: intercept = Harbord's slope, slope = Harbord's intercept
  coefs <- list(
    list(name = "intrcpt", estimate = num(ht[2, 1]), se = num(ht[2, 2]),
         stat = num(ht[2, 3]), pval = num(ht[2, 4])),
    list(name = "sei", estimate = num(ht[1, 1]), se = num(ht[1, 2]),
         stat = num(ht[1, 3]), pval = num(ht[1, 4])))
  add_spec(paste0(name, "_harbord"), "harbord", d, c(s, list(level = 95)),
           list(k = sum(keep), stat = num(ht[1, 3]), pval = num(ht[1, 4]), df = df,
                bias = num(ht[1, 1]), bias_se = num(ht[1, 2]),
                limit_estimate = num(ht[2, 1]),
                limit_ci_lb = num(ht[2, 1] - crit * ht[2, 2]),
                limit_ci_ub = num(ht[2, 1] + crit * ht[2, 2]),
                coefficients = coefs,
                excluded = I(as.character(d$study[!keep]))))
}

spec_ranktest <- function(name, d, s) {
  es <- calc_es(d, s)
  res <- fit_model(es, "REML")
  r <- collect(ranktest(res))
  # the inputs cor.test saw (as in metafor 3.8.1's ranktest) only to report ties
  yi <- c(res$yi); vi <- res$vi
  wi <- 1 / vi
  ys <- (yi - sum(wi * yi) / sum(wi)) / sqrt(vi - 1 / sum(wi))
  ties <- min(length(unique(ys)), length(unique(vi))) < length(yi)
  add_spec(paste0(name, "_ranktest"), "ranktest", d, s,
           list(k = res$k, tau = num(r$tau), pval = num(r$pval), exact = !ties,
                ties = ties))
}

BACK <- list(OR = exp, RR = exp, PLO = transf.ilogit)

adjusted_fields <- function(m, measure) {
  fe <- m$method %in% c("FE", "EE", "CE")
  pr <- predict(m)
  tf <- BACK[[measure]]
  bk <- if (is.null(tf)) pr else predict(m, transf = tf)
  list(model = if (fe) "FE" else "RE", k = m$k, estimate = num(coef(m)), se = num(m$se),
       ci_lb = num(m$ci.lb), ci_ub = num(m$ci.ub), stat = num(m$zval),
       pval = num(m$pval),
       pi_lb = num(if (is.null(pr$pi.lb)) pr$ci.lb else pr$pi.lb),
       pi_ub = num(if (is.null(pr$pi.ub)) pr$ci.ub else pr$pi.ub),
       tau2 = num(m$tau2), tau2_se = if (fe) NA_real_ else num(m$se.tau2),
       i2 = num(m$I2), h2 = num(m$H2), q = num(m$QE), q_df = m$k - 1,
       q_pval = num(m$QEp),
       back = list(estimate = num(bk$pred), ci_lb = num(bk$ci.lb),
                   ci_ub = num(bk$ci.ub)))
}

spec_trimfill <- function(name, d, s, estimator = "L0", side = NULL, method = "REML") {
  es <- calc_es(d, s)
  res <- fit_model(es, method)
  args <- list(res, estimator = estimator, verbose = TRUE)
  if (!is.null(side)) args$side <- side
  out <- capture.output(tf <- collect(do.call(trimfill, args)))
  iterations <- sum(grepl("^Iteration:", out))
  fill <- tf$fill
  k0 <- tf$k0
  # which study each filled one mirrors (the sort trimfill.rma.uni does)
  study <- as.character(d$study)[res$not.na]
  yi <- c(res$yi)
  ix <- sort(if (tf$side == "right") -yi else yi, index.return = TRUE)$ix
  k <- length(yi)
  mirror <- if (k0 > 0) study[ix][(k - k0 + 1):k] else character(0)
  adj <- if (k0 > 0) tf else res
  side_txt <- if (is.null(side)) "auto" else side
  s2 <- c(s, list(estimator = estimator, side = side, method = method, test = "z",
                  level = 95))
  add_spec(sprintf("%s_trimfill_%s_%s_%s", name, estimator, side_txt, method), "trimfill",
           d, s2,
           list(k = res$k, side = tf$side, k0 = k0, se_k0 = num(tf$se.k0),
                p_k0 = num(tf$p.k0), iterations = iterations,
                filled = list(yi = vec(if (k0 > 0) c(tf$yi)[fill] else numeric(0)),
                              vi = vec(if (k0 > 0) tf$vi[fill] else numeric(0)),
                              mirror_of = I(mirror)),
                adjusted = adjusted_fields(adj, s$measure)))
}

funnel_bottom <- function(refline, top, level) {
  z <- qnorm((100 - level) / 200, lower.tail = FALSE)
  list(lb = num(refline - z * top), ub = num(refline + z * top))
}

funnel_xlim <- function(refline, maxsei, yi, level_min) {
  z <- qnorm((100 - level_min) / 200, lower.tail = FALSE)
  xl <- c(min(refline - z * maxsei, min(yi)), max(refline + z * maxsei, max(yi)))
  r <- xl[2] - xl[1]
  vec(c(xl[1] - r * 0.1, xl[2] + r * 0.1))
}

spec_funnel <- function(name, d, s, method = "REML", trim = FALSE) {
  es <- calc_es(d, s)
  res <- fit_model(es, method)
  obj <- if (trim) collect(trimfill(res)) else res
  pdf(NULL)
  pts <- funnel(obj)
  cpts <- funnel(res, level = c(90, 95, 99), refline = 0)
  invisible(dev.off())
  refline <- num(coef(obj))
  maxsei <- max(pts$y)
  top <- maxsei * 1.1
  contours <- lapply(c(90, 95, 99), function(l) {
    c(list(p = (100 - l) / 100), funnel_bottom(0, max(cpts$y) * 1.1, l))
  })
  add_spec(sprintf("%s_funnel_%s%s", name, method, if (trim) "_trimfill" else ""),
           "funnel", d, c(s, list(method = method, trimfill = trim, level = 95)),
           list(k = res$k, x = vec(pts$x), y = vec(pts$y),
                fill = I(if (trim) as.logical(pts$fill) else rep(FALSE, nrow(pts))),
                refline = refline, sei_top = num(top),
                region = funnel_bottom(refline, top, 95),
                xlim = funnel_xlim(refline, maxsei, pts$x, 95),
                contours = contours,
                contour_xlim = funnel_xlim(0, max(cpts$y), cpts$x, 99)))
}

# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------

egger <- with(dat.egger2001, two_arm(study, ai, n1i, ci, n2i))
bcg <- with(dat.bcg, two_arm(paste(author, year), tpos, tpos + tneg, cpos, cpos + cneg))
hack <- with(dat.hackshaw1998, generic(paste(author, year), yi, vi))
lau <- with(dat.lau1992, two_arm(trial, ai, n1i, ci, n2i))
col_d <- dat.collins1985a[!is.na(dat.collins1985a$d.xti) & !is.na(dat.collins1985a$d.xci), ]
collins_d <- with(col_d, two_arm(trial, d.xti, nti, d.xci, nci))
col_b <- dat.collins1985a[!is.na(dat.collins1985a$b.xti) & !is.na(dat.collins1985a$b.xci), ]
collins_b <- with(col_b, two_arm(trial, b.xti, nti, b.xci, nci))
pritz <- with(dat.pritz1997, one_arm(authors, xi, ni))
debruin <- with(dat.debruin2009, one_arm(paste(author, year), xi, ni))

ext <- read.csv(file.path(REPO, "data", "raw", "evt-vs-medical-rcts", "extraction.csv"),
                stringsAsFactors = FALSE, check.names = FALSE)
evt_outcome <- function(outcome) {
  x <- ext[ext$outcome == outcome, ]
  ids <- unique(x$study_id)
  ids <- ids[vapply(ids, function(i) all(c("evt", "control") %in% x$arm[x$study_id == i]),
                    TRUE)]
  pick <- function(i, arm, col) x[x$study_id == i & x$arm == arm, col]
  two_arm(ids, sapply(ids, pick, "evt", "events"), sapply(ids, pick, "evt", "total"),
          sapply(ids, pick, "control", "events"), sapply(ids, pick, "control", "total"))
}
evt <- list(mrs02 = evt_outcome("mrs02"), death = evt_outcome("death"),
            sich = evt_outcome("sich"))

OR <- es_settings("OR")
RR <- es_settings("RR")
PLO <- es_settings("PLO")
GEN <- list(measure = "OR", add = NULL, to = NULL, drop00 = NULL)  # yi/vi given (log OR)

# ---------------------------------------------------------------------------
# specs
# ---------------------------------------------------------------------------

# regression tests
for (a in list(c("lm", "sei", "REML", "z"), c("rma", "sei", "REML", "z"),
               c("rma", "sei", "FE", "z"), c("rma", "sei", "DL", "knha"),
               c("lm", "vi", "REML", "z"), c("rma", "vi", "REML", "z"),
               c("lm", "ni", "REML", "z"), c("rma", "ni", "REML", "z"),
               c("lm", "ninv", "REML", "z"), c("rma", "ninv", "REML", "z"),
               c("lm", "sqrtni", "REML", "z"), c("lm", "sqrtninv", "REML", "z"),
               c("rma", "sqrtninv", "ML", "z"), c("rma", "sqrtni", "HE", "knha"))) {
  spec_regtest("egger2001", egger, OR, a[1], a[2], a[3], a[4])
}
spec_regtest("bcg", bcg, RR, "lm", "sei")
spec_regtest("bcg", bcg, RR, "rma", "sei", "REML")
spec_regtest("bcg", bcg, RR, "rma", "sei", "PM")
spec_regtest("hackshaw1998", hack, GEN, "lm", "sei")
spec_regtest("hackshaw1998", hack, GEN, "rma", "sei", "FE")
spec_regtest("hackshaw1998", hack, GEN, "rma", "vi", "REML", "knha")
spec_regtest("lau1992", lau, OR, "lm", "sei")
spec_regtest("lau1992", lau, OR, "rma", "sei", "REML")
spec_regtest("pritz1997", pritz, PLO, "lm", "sei")
spec_regtest("pritz1997", pritz, PLO, "rma", "sei", "REML")
spec_regtest("pritz1997", pritz, PLO, "lm", "ninv")
spec_regtest("debruin2009", debruin, PLO, "rma", "sqrtninv", "DL")
spec_regtest("collins1985a_deaths", collins_d, OR, "lm", "sei")
for (oc in names(evt)) {
  spec_regtest(paste0("evt_", oc), evt[[oc]], OR, "lm", "sei")
  spec_regtest(paste0("evt_", oc), evt[[oc]], OR, "rma", "sei", "REML")
}

# Peters
spec_peters("egger2001", egger, OR)
spec_peters("lau1992", lau, OR)
spec_peters("collins1985a_deaths", collins_d, OR)
spec_peters("evt_sich", evt$sich, OR)
spec_peters("evt_death", evt$death, OR)
spec_peters("pritz1997", pritz, PLO)

# Harbord
spec_harbord("egger2001", egger, OR)
spec_harbord("lau1992", lau, OR)
spec_harbord("collins1985a_deaths", collins_d, OR)
spec_harbord("evt_sich", evt$sich, OR)
spec_harbord("evt_mrs02", evt$mrs02, OR)

# rank correlation
spec_ranktest("egger2001", egger, OR)
spec_ranktest("bcg", bcg, RR)
spec_ranktest("hackshaw1998", hack, GEN)
spec_ranktest("lau1992", lau, OR)
spec_ranktest("pritz1997", pritz, PLO)
spec_ranktest("debruin2009", debruin, PLO)  # ties: normal approximation
spec_ranktest("collins1985a_deaths", collins_d, OR)
spec_ranktest("evt_mrs02", evt$mrs02, OR)
spec_ranktest("evt_sich", evt$sich, OR)

# trim and fill
spec_trimfill("egger2001", egger, OR, "L0", NULL, "REML")
spec_trimfill("egger2001", egger, OR, "R0", NULL, "REML")
spec_trimfill("egger2001", egger, OR, "L0", NULL, "FE")
spec_trimfill("egger2001", egger, OR, "R0", NULL, "FE")
spec_trimfill("egger2001", egger, OR, "L0", "left", "REML")
spec_trimfill("egger2001", egger, OR, "R0", "right", "DL")
spec_trimfill("bcg", bcg, RR, "L0", "left", "REML")
spec_trimfill("bcg", bcg, RR, "L0", NULL, "REML")
spec_trimfill("bcg", bcg, RR, "R0", "right", "FE")
spec_trimfill("hackshaw1998", hack, GEN, "L0", NULL, "FE")
spec_trimfill("hackshaw1998", hack, GEN, "R0", NULL, "FE")
spec_trimfill("lau1992", lau, OR, "L0", NULL, "REML")
spec_trimfill("lau1992", lau, OR, "R0", NULL, "REML")
spec_trimfill("pritz1997", pritz, PLO, "L0", NULL, "REML")
spec_trimfill("collins1985a_bleeding", collins_b, OR, "L0", NULL, "REML")
spec_trimfill("evt_sich", evt$sich, OR, "L0", NULL, "REML")
spec_trimfill("evt_death", evt$death, OR, "L0", NULL, "DL")
spec_trimfill("evt_mrs02", evt$mrs02, OR, "R0", NULL, "REML")
spec_trimfill("evt_mrs02", evt$mrs02, OR, "L0", "right", "REML")

# funnel plot geometry
spec_funnel("egger2001", egger, OR, "REML")
spec_funnel("egger2001", egger, OR, "REML", trim = TRUE)
spec_funnel("evt_sich", evt$sich, OR, "REML")
spec_funnel("evt_mrs02", evt$mrs02, OR, "FE")

# ---------------------------------------------------------------------------
# write (every double at full precision; see fixture_common.R)
# ---------------------------------------------------------------------------

kinds <- vapply(SPECS, function(s) s$kind, "")
meta <- c(versions("tests/reference/make_fixtures_smallstudy.R"), list(
  n_specs = length(SPECS),
  specs_per_kind = as.list(table(factor(kinds, levels = c("regtest", "peters", "harbord",
                                                          "ranktest", "trimfill",
                                                          "funnel"))))
))
write_fixture_json(list(meta = meta, specs = full_precision(SPECS)),
                   file.path(OUT, "fixtures_smallstudy.json"))
message(length(SPECS), " specs written to ", file.path(OUT, "fixtures_smallstudy.json"))
