# Times R's survival/cmprsk on the same analysis frames the registry computes on
# (written as CSV by tests/bench/analyses.py). Usage: Rscript analysis_bench.R <dir>
# Prints one line: seconds=<elapsed> for the whole set of calls, the fastest of 3 times
# (as tests/bench/analyses.py reports the fastest of its runs).
suppressPackageStartupMessages({library(survival); library(cmprsk)})
dir <- commandArgs(trailingOnly = TRUE)[1]
os2 <- read.csv(file.path(dir, "os2.csv"))
cp <- read.csv(file.path(dir, "cp.csv"))
cir <- read.csv(file.path(dir, "cir.csv"))
osdx <- read.csv(file.path(dir, "osdx.csv"))
factors <- c("age_under_3_months", "cns_involvement", "wbc_100_or_more", "wbc_300_or_more",
             "mll_partner", "first_remission", "relapse_site", "salvage_remission", "hsct")
calls <- function() {
  fit <- survfit(Surv(time, event) ~ 1, data = os2)
  s <- summary(fit, times = c(365.25, 1095.75, 1826.25))
  fu <- survfit(Surv(time, 1 - event) ~ 1, data = os2)
  for (f in factors) {
    g <- factor(os2[[f]])
    if (nlevels(g) > 1) {
      survdiff(Surv(time, event) ~ g, data = os2)
      survfit(Surv(time, event) ~ g, data = os2)
    }
  }
  os2$no_salvage_remission <- 1 - os2$salvage_remission
  cox <- coxph(Surv(time, event) ~ age_under_3_months + cns_involvement + wbc_100_or_more +
                 no_salvage_remission, data = os2, ties = "efron")
  zph <- cox.zph(cox)
  td <- coxph(Surv(start, stop, event) ~ hsct + salvage_remission, data = cp, ties = "efron")
  ci <- cuminc(cir$time, cir$event_type, cir$trial)
  survfit(Surv(time, event) ~ 1, data = osdx)
  survdiff(Surv(time, event) ~ trial, data = osdx)
}
elapsed <- min(sapply(1:3, function(i) system.time(calls())[["elapsed"]]))
cat(sprintf("seconds=%.4f\n", elapsed))
# R's own peak resident memory (VmHWM of this process since its exec; the rusage of a child
# would count the pages it shared with the forking Python process).
hwm <- grep("^VmHWM:", readLines("/proc/self/status"), value = TRUE)
cat(sprintf("peak_kb=%s\n", gsub("[^0-9]", "", hwm)))
