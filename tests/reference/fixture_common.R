# Helpers shared by the fixture generators make_fixtures*.R in this folder, which
# source this file from their own location:
#
#   source(file.path(OUT, "fixture_common.R"))   # OUT = the script's folder
#
# It sets up the deterministic R session (C collation, na.omit), collects metafor's
# warnings per spec, and writes JSON with every double at full precision.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})
invisible(Sys.setlocale("LC_COLLATE", "C"))
options(na.action = "na.omit", warn = 0, stringsAsFactors = FALSE)

SINGLE <- c("PR", "PLN", "PLO", "PAS", "PFT")

# warnings metafor raised while computing one spec (reset .W$w before each spec)
.W <- new.env()
.W$w <- character(0)
collect <- function(expr) {
  withCallingHandlers(expr, warning = function(w) {
    .W$w <- c(.W$w, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
}

# back-transformation used by predict(res, transf = ...) and leave1out/cumul(transf = ...)
back_transf <- function(measure) {
  switch(measure,
    OR = exp, RR = exp, PLN = exp,
    PLO = transf.ilogit, PAS = transf.iarcsin, PFT = transf.ipft.hm,
    RD = NULL, PR = NULL
  )
}

# ---------------------------------------------------------------------------
# JSON at full precision
# ---------------------------------------------------------------------------

# jsonlite prints at most 15 significant digits even with digits = NA, which does
# not round-trip doubles; so every double is pre-formatted with the shortest of
# %.15g / %.16g / %.17g that reads back as the identical double, and passed
# through verbatim (json_verbatim = TRUE).  NA/NaN/Inf -> null.
fmt_num <- function(x) {
  vapply(x, function(v) {
    if (is.na(v) || is.infinite(v)) return("null")
    for (p in 15:17) {
      s <- sprintf(paste0("%.", p, "g"), v)
      if (as.numeric(s) == v) return(s)
    }
    s
  }, "", USE.NAMES = FALSE)
}
full_precision <- function(x) {
  if (is.null(x)) return(NULL)
  if (is.list(x)) {
    out <- lapply(x, full_precision)
    names(out) <- names(x)
    return(out)
  }
  if (is.double(x)) {
    s <- fmt_num(unclass(x))
    boxed <- inherits(x, "AsIs") || length(x) != 1L
    txt <- if (boxed) paste0("[", paste(s, collapse = ", "), "]") else s
    return(structure(txt, class = "json"))
  }
  x
}

# write `x` (already passed through full_precision where it holds doubles) to `path`
write_fixture_json <- function(x, path) {
  write_json(x, path, auto_unbox = TRUE, digits = NA, null = "null", na = "null",
             pretty = TRUE, json_verbatim = TRUE)
}

# the generator and the versions of R and the packages that produced a fixture file
versions <- function(generator) {
  list(
    generator = generator,
    r_version = R.version.string,
    metafor_version = as.character(packageVersion("metafor")),
    metadat_version = as.character(packageVersion("metadat")),
    jsonlite_version = as.character(packageVersion("jsonlite"))
  )
}
