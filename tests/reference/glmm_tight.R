# The tight glmer optimiser of the GLMM fixtures (make_fixtures_glmm_or.R,
# make_fixtures_bundled_cohorts.R): metafor's default rma.glmm fit stops up to 5e-4 short
# of the optimum, so the fixtures refit with this optimiser passed through
# control = list(glmerCtrl = list(optimizer = bobyqa_newton, tolPwrss = 1e-10)).
# Needs minqa and numDeriv (lme4's dependencies).

# bobyqa, then Newton steps on the free parameters (a parameter at its bound stays there)
bobyqa_newton <- function(par, fn, lower, upper, control = list()) {
  o <- minqa::bobyqa(par, fn, lower = lower, upper = upper,
                     control = list(rhoend = 1e-10, maxfun = 1e5))
  x <- o$par
  free <- x > lower + 1e-8
  steps <- 0L
  for (it in 1:30) {
    g <- numDeriv::grad(fn, x)[free]
    H <- numDeriv::hessian(fn, x)[free, free, drop = FALSE]
    step <- tryCatch(solve(H, g), error = function(e) NULL)
    if (is.null(step)) break
    xn <- x
    xn[free] <- x[free] - step
    if (any(xn < lower) || fn(xn) > fn(x) + 1e-12) break
    x <- xn
    steps <- steps + 1L
    if (max(abs(step)) < 1e-10) break
  }
  list(par = x, fval = fn(x), conv = 0, message = paste("bobyqa +", steps, "Newton steps"))
}
