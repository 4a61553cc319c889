# Reference values for meta-analyses where one study's weight dwarfs the others' (a
# registry-sized study among small trials): tau^2, its standard error, I^2 and the pooled
# estimate must not lose their digits to cancellation (tr(P), sum of P^2). Synthetic 2x2
# tables, not trial data: a large study with all or no events in both arms, plus the
# small studies of metadat's dat.bcg (tpos/tneg/cpos/cneg).
#
#   Rscript tests/reference/make_fixtures_precision.R
#
# writes tests/reference/fixtures_precision.json.
script_dir <- function() {
  arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  if (length(arg)) dirname(normalizePath(sub("^--file=", "", arg[1]))) else "tests/reference"
}
OUT <- script_dir()
source(file.path(OUT, "fixture_common.R"))

bcg <- metadat::dat.bcg[1:6, ]
small <- data.frame(
  study = paste0("bcg", bcg$trial), ai = bcg$tpos, n1i = bcg$tpos + bcg$tneg,
  ci = bcg$cpos, n2i = bcg$cpos + bcg$cneg
)
with_big <- function(events, n) {
  rbind(data.frame(study = "big", ai = events, n1i = n, ci = events, n2i = n), small)
}

spec <- function(name, d, measure, method) {
  .W$w <- character(0)
  es <- escalc(measure, ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i)
  r <- collect(rma(es$yi, es$vi, method = method))
  list(
    name = name, measure = measure, method = method,
    data = list(study = d$study, ai = I(as.double(d$ai)), n1i = I(as.double(d$n1i)),
                ci = I(as.double(d$ci)), n2i = I(as.double(d$n2i))),
    expected = full_precision(list(
      estimate = as.numeric(r$beta), se = r$se, tau2 = r$tau2, tau2_se = r$se.tau2,
      i2 = r$I2, h2 = r$H2, q = r$QE
    )),
    warnings = .W$w
  )
}

specs <- list()
for (n in c(1e5, 5e5)) {
  for (method in c("REML", "DL", "ML", "HS")) {
    specs[[length(specs) + 1]] <- spec(
      sprintf("all_events_%g_RR_%s", n, method), with_big(n, n), "RR", method
    )
  }
}
for (method in c("REML", "DL")) {
  specs[[length(specs) + 1]] <- spec(
    sprintf("double_zero_5e6_RD_%s", method), with_big(0, 5e6), "RD", method
  )
}

# synthetic (random small trials plus a 0/5,000,000 vs 0/5,000,000 study): the REML
# information is a difference of nearly equal numbers; it once made Fisher scoring loop
hang <- read.csv(file.path(OUT, "precision_double_zero_rd.csv"))
specs[[length(specs) + 1]] <- spec("double_zero_5e6_RD_REML_random_small", hang, "RD", "REML")

write_fixture_json(
  list(meta = versions("make_fixtures_precision.R"), specs = specs),
  file.path(OUT, "fixtures_precision.json")
)
cat("wrote", length(specs), "specs\n")
