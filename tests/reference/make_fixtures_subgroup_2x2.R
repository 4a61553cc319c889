# Reference values for subgroup analyses pooled with Mantel-Haenszel or Peto: per level
# rma.mh / rma.peto, and the test for subgroup differences as RevMan computes it,
# Cochran's Q over the level estimates with inverse-variance weights
# (rma(yi = level estimates, sei = their se, method = "FE")$QE).
#
#   Rscript tests/reference/make_fixtures_subgroup_2x2.R
#
# writes tests/reference/fixtures_subgroup_2x2.json from the bundled evt review's counts.
script_dir <- function() {
  arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  if (length(arg)) dirname(normalizePath(sub("^--file=", "", arg[1]))) else "tests/reference"
}
OUT <- script_dir()
source(file.path(OUT, "fixture_common.R"))

ROOT <- normalizePath(file.path(OUT, "..", ".."))
ex <- read.csv(file.path(ROOT, "data/raw/evt-vs-medical-rcts/extraction.csv"))
st <- read.csv(file.path(ROOT, "data/raw/evt-vs-medical-rcts/studies.csv"))

table_2x2 <- function(outcome) {
  e <- ex[ex$outcome == outcome & ex$arm == "evt", c("study_id", "events", "total")]
  c <- ex[ex$outcome == outcome & ex$arm == "control", c("study_id", "events", "total")]
  d <- merge(e, c, by = "study_id", suffixes = c(".e", ".c"))
  d <- merge(d, st[, c("study_id", "category", "region")], by = "study_id")
  d[order(d$study_id), ]
}

spec <- function(outcome, method, column) {
  d <- table_2x2(outcome)
  d <- d[d[[column]] != "", ]
  fit1 <- function(x) {
    if (method == "MH") {
      rma.mh(ai = events.e, n1i = total.e, ci = events.c, n2i = total.c, data = x, measure = "OR")
    } else {
      rma.peto(ai = events.e, n1i = total.e, ci = events.c, n2i = total.c, data = x)
    }
  }
  levels <- sort(unique(d[[column]]))
  lev <- list()
  for (g in levels) {
    x <- d[d[[column]] == g, ]
    # a single-study level: rma.mh/rma.peto with k = 1 (the study's own estimate)
    f <- fit1(x)
    lev[[g]] <- list(level = g, k = f$k, estimate = as.numeric(f$beta), se = f$se)
  }
  est <- sapply(lev, function(l) l$estimate)
  se <- sapply(lev, function(l) l$se)
  between <- rma(yi = est, sei = se, method = "FE")
  all <- fit1(d)
  list(
    name = paste(outcome, method, column, sep = "_"), outcome = outcome, method = method,
    column = column, levels = unname(lev),
    test_between = list(q = between$QE, df = between$k - 1, pval = between$QEp),
    overall = list(k = all$k, estimate = as.numeric(all$beta), se = all$se)
  )
}

specs <- list(
  spec("sich", "MH", "category"), spec("death", "MH", "category"),
  spec("sich", "PETO", "category"), spec("mrs02", "MH", "region")
)
write_fixture_json(list(versions = versions("make_fixtures_subgroup_2x2.R"), specs = specs),
                   file.path(OUT, "fixtures_subgroup_2x2.json"))
