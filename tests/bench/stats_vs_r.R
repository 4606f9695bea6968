# R's survival / cmprsk on the synthetic cohort of tests/bench/stats_vs_r.py, one timed call per
# statistic, the same calls the registry's statistics make (see STATISTICS there).
# Usage: Rscript stats_vs_r.R <patients.csv> <counting_process.csv>
# Prints, per statistic, "time <key> <elapsed seconds>" (system.time inside R, reading the CSV
# not included) and "value <key> <numbers>" for the agreement check.
suppressPackageStartupMessages({library(survival); library(cmprsk)})
args <- commandArgs(trailingOnly = TRUE)
pat <- read.csv(args[1])
cp <- read.csv(args[2])
times <- c(365.25, 1095.75, 1826.25)
cat("version", R.version.string, "with survival", as.character(packageVersion("survival")),
    "and cmprsk", as.character(packageVersion("cmprsk")), "\n")

run <- function(key, fn) {
  value <- NULL
  elapsed <- system.time(value <- fn())[["elapsed"]]
  cat(sprintf("time %s %.6f\n", key, elapsed))
  cat("value", key, sprintf("%.17g", value), "\n")
}

# coxph, then cox.zph (which re-reads the data through the fit's call, so `data` must be a global name)
cox <- function(fit) {
  cox.zph(fit)
  unname(coef(fit))
}

run("km", function() {
  fit <- survfit(Surv(time, event) ~ 1, data = pat)
  at <- summary(fit, times = times)
  quantile(fit, c(0.25, 0.5, 0.75))
  summary(fit, rmean = 1826.25)$table
  c(at$surv, at$std.err)
})
run("logrank", function() survdiff(Surv(time, event) ~ x1, data = pat)$chisq)
run("cox_efron", function() {
  cox(coxph(Surv(time, event) ~ x1 + x2 + x3 + x4 + x5, data = pat, ties = "efron"))
})
run("cox_breslow", function() {
  cox(coxph(Surv(time, event) ~ x1 + x2 + x3 + x4 + x5, data = pat, ties = "breslow"))
})
run("cox_strata", function() {
  cox(coxph(Surv(time, event) ~ x1 + x2 + x3 + x4 + x5 + strata(trial), data = pat, ties = "efron"))
})
run("cox_counting", function() {
  cox(coxph(Surv(start, stop, event) ~ x1 + x2 + x3 + x4 + x5 + transplanted, data = cp, ties = "efron"))
})
run("cox_counting_strata", function() {
  cox(coxph(Surv(start, stop, event) ~ x1 + x2 + x3 + x4 + x5 + transplanted + strata(trial),
            data = cp, ties = "breslow"))
})
run("cif", function() {
  tp <- timepoints(cuminc(pat$time, pat$event_type, cencode = 0), times)
  c(t(tp$est), t(tp$var))  # cause 1 at the three times, then cause 2
})
run("cif_gray", function() {
  fit <- cuminc(pat$time, pat$event_type, pat$x1, cencode = 0)
  timepoints(fit, times)
  unname(fit$Tests[, "stat"])
})
run("gray_strata", function() {
  fit <- cuminc(pat$time, pat$event_type, pat$x1, strata = pat$trial, cencode = 0)
  unname(fit$Tests[, "stat"])
})
run("simon_makuch", function() {
  fit <- survfit(Surv(start, stop, event) ~ transplanted, data = cp)
  s <- summary(fit, times = times)
  s$surv
})
