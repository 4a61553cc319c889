#!/usr/bin/env Rscript
# Reference fixtures for the leave-one-out, cumulative, Baujat and influence analyses of
# reviews large enough for metareview's lock-step refits (engine/casefits.py: from 100
# studies), computed with R's metafor.
#
# How to rerun (from the repository root; R >= 4 with metafor 3.8.1 and jsonlite):
#
#   Rscript tests/reference/make_fixtures_large_k.R
#
# It writes tests/reference/fixtures_large_k.json in the format of
# fixtures_sensitivity.json (the same spec machinery: the function definitions of
# make_fixtures_sensitivity.R are evaluated here, its specs are not). The data are
# SIMULATED with R's own generator (set.seed(20)): 300 two-arm trials, arm sizes 30..300,
# control risks U(0.15, 0.45), true log odds ratios N(0.4, 0.3^2) ("het") or 0.4 for every
# trial ("hom": tau^2 at or near 0 for most refits); "dom" adds one trial of 50,000
# patients per arm to "het" (it carries most of the fixed-effect weight: the refits whose
# one-pass sums would cancel, refitted exactly by metareview). Deterministic: rerunning
# gives identical bytes. tests/test_large_k.py compares every field.

script_dir <- function() {
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 1L) dirname(normalizePath(f)) else file.path("tests", "reference")
}
OUT <- script_dir()
source(file.path(OUT, "fixture_common.R"))
pdf(NULL) # baujat() draws; keep it off screen and off disk

# the spec machinery of make_fixtures_sensitivity.R: its function definitions only
for (e in parse(file.path(OUT, "make_fixtures_sensitivity.R"))) {
  if (is.call(e) && identical(e[[1]], as.name("<-")) && is.call(e[[3]]) &&
      identical(e[[3]][[1]], as.name("function"))) {
    eval(e, globalenv())
  }
}

set.seed(20)
K <- 300
n1 <- sample(30:300, K, replace = TRUE)
n2 <- sample(30:300, K, replace = TRUE)
p0 <- runif(K, 0.15, 0.45)
year <- sample(1990:2025, K, replace = TRUE)
theta <- rnorm(K, 0.4, 0.3)
trials <- function(theta) {
  p1 <- plogis(qlogis(p0) + theta)
  two_arm(sprintf("L%03d", seq_len(K)), sprintf("Trial %03d", seq_len(K)), year,
          rbinom(K, n1, p1), n1, rbinom(K, n2, p0), n2)
}
het <- trials(theta)
hom <- trials(rep(0.4, K))
dom <- rbind(het, two_arm("L999", "Registry", 2020, 21000L, 50000L, 17500L, 50000L))

SPECS <- list()
SKIPPED <- list()
BY_YEAR <- c("year", "label")
for (method in c("REML", "DL", "ML", "EB", "HE", "HS", "FE")) {
  spec("het", het, "OR", method, "z", BY_YEAR)
}
spec("het", het, "OR", "REML", "knha", BY_YEAR)
spec("hom", hom, "OR", "REML", "z", BY_YEAR)
spec("hom", hom, "OR", "ML", "knha", BY_YEAR)
spec("dom", dom, "OR", "REML", "z", BY_YEAR)
spec("dom", dom, "OR", "DL", "z", BY_YEAR)

doc <- c(versions("tests/reference/make_fixtures_large_k.R"),
         list(skipped = SKIPPED, specs = SPECS))
write_fixture_json(full_precision(doc), file.path(OUT, "fixtures_large_k.json"))
message(length(SPECS), " specs written to ", file.path(OUT, "fixtures_large_k.json"),
        "; ", length(SKIPPED), " skipped")
