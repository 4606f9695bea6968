# Reference values for analysis/stats, computed with R's survival and cmprsk packages.
#
# Run from the repository root:   Rscript tests/reference/survival_reference.R
# Writes tests/reference/r_results.json (JSON written by hand: jsonlite is not needed).
#
# Every CSV in tests/reference/data/ is processed; its kind is recognised by its columns.
#
# COLUMN CONVENTION
#   Patient frame (one row per patient), e.g. data/heavy_censoring.csv:
#     id          patient identifier (optional)
#     duration    follow-up time in days (numeric >= 0)
#     event       1 = event (e.g. death), 0 = censored
#     event_type  0 = censored, 1 = event of interest (e.g. relapse), 2 = competing event
#     group       grouping factor (text; >= 2 levels for the log-rank / Gray tests)
#     bin1, bin2  binary covariates (0/1)
#     cont        continuous covariate
#   Counting-process frame (several rows per patient), e.g. data/heavy_censoring_cp.csv:
#     id, start, stop (days; interval (start, stop]), event (0/1 at stop),
#     transplanted (0/1, time-dependent covariate), bin1, cont (baseline covariates;
#     optional: covariates that are absent are left out of the model)
#   Files with neither set of columns are skipped with a message.
#
# The output JSON is {"datasets": {<file name without .csv>: {...}}, "binom_fixed": [...]}.
# Length-1 vectors are written as scalars; NA / NaN / Inf are written as null.

suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
})

args <- commandArgs(trailingOnly = FALSE)
script_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(script_arg)) dirname(normalizePath(script_arg)) else "tests/reference"
data_dir <- file.path(here, "data")
out_file <- file.path(here, "r_results.json")

FIXED_TIMES <- c(365.25, 1095.75, 1826.25)
QUANTILE_PROBS <- c(0.25, 0.5, 0.75)
RMST_TAU <- 1826.25   # restricted mean survival time up to 5 years

# ---------------------------------------------------------------- minimal JSON writer
json_num <- function(x) {
  ifelse(is.na(x) | !is.finite(x), "null", sprintf("%.17g", x))
}
json_str <- function(x) {
  x <- gsub("\\\\", "\\\\\\\\", x)
  x <- gsub("\"", "\\\\\"", x)
  paste0("\"", x, "\"")
}
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    nms <- names(x)
    parts <- vapply(x, to_json, character(1))
    if (is.null(nms)) return(paste0("[", paste(parts, collapse = ","), "]"))
    return(paste0("{", paste(paste0(json_str(nms), ":", parts), collapse = ","), "}"))
  }
  if (is.factor(x)) x <- as.character(x)
  if (is.logical(x)) vals <- ifelse(is.na(x), "null", ifelse(x, "true", "false"))
  else if (is.character(x)) vals <- ifelse(is.na(x), "null", json_str(x))
  else vals <- json_num(as.numeric(x))
  if (length(vals) == 1) return(vals)
  paste0("[", paste(vals, collapse = ","), "]")
}
# always an array, even with one element
arr <- function(x) as.list(unname(x))

# ---------------------------------------------------------------- analyses
km_summary <- function(time, status) {
  fit <- survfit(Surv(time, status) ~ 1)   # conf.type = "log" (default)
  s <- summary(fit, censored = TRUE)
  # summary() drops times beyond the last follow-up (and errors if none is left)
  keep <- FIXED_TIMES[FIXED_TIMES <= max(time)]
  at <- if (length(keep)) summary(fit, times = keep) else list()
  med <- quantile(fit, probs = 0.5)
  q <- quantile(fit, probs = QUANTILE_PROBS)
  rm <- summary(fit, rmean = RMST_TAU)$table
  list(
    n = length(time), n_events = sum(status),
    time = arr(s$time), n_risk = arr(s$n.risk), n_event = arr(s$n.event),
    n_censor = arr(s$n.censor), surv = arr(s$surv), std_err = arr(s$std.err),
    lower = arr(s$lower), upper = arr(s$upper),
    at_times = list(time = arr(at$time), surv = arr(at$surv), std_err = arr(at$std.err),
                    lower = arr(at$lower), upper = arr(at$upper), n_risk = arr(at$n.risk)),
    median = unname(med$quantile), median_lower = unname(med$lower),
    median_upper = unname(med$upper),
    quantile_probs = arr(QUANTILE_PROBS), quantile = arr(unname(q$quantile)),
    quantile_lower = arr(unname(q$lower)), quantile_upper = arr(unname(q$upper)),
    rmst_tau = RMST_TAU, rmst = unname(rm["rmean"]), rmst_se = unname(rm["se(rmean)"])
  )
}

cox_summary <- function(fit) {
  s <- summary(fit)
  zph <- cox.zph(fit)   # survival >= 3.0, transform = "km"
  list(
    terms = arr(names(coef(fit))), coef = arr(unname(coef(fit))),
    se = arr(unname(sqrt(diag(vcov(fit))))), p = arr(unname(s$coefficients[, "Pr(>|z|)"])),
    lower = arr(unname(s$conf.int[, "lower .95"])), upper = arr(unname(s$conf.int[, "upper .95"])),
    loglik = arr(fit$loglik), n = fit$n, n_events = fit$nevent,
    # summary()$waldtest is rounded, so take the unrounded values from the fit
    wald = unname(fit$wald.test), wald_df = length(coef(fit)),
    lrt = 2 * diff(fit$loglik), lrt_df = length(coef(fit)), score = unname(fit$score),
    concordance = unname(fit$concordance["concordance"]),
    zph_terms = arr(rownames(zph$table)), zph_chisq = arr(unname(zph$table[, "chisq"])),
    zph_df = arr(unname(zph$table[, "df"])), zph_p = arr(unname(zph$table[, "p"]))
  )
}

cuminc_summary <- function(time, etype, group = NULL) {
  tt <- sort(unique(c(time, FIXED_TIMES)))
  fit <- if (is.null(group)) cuminc(time, etype, cencode = 0) else cuminc(time, etype, group, cencode = 0)
  out <- list()
  keys <- names(fit)[names(fit) != "Tests"]
  tp <- timepoints(fit, tt)
  for (k in keys) {
    out[[k]] <- list(time = arr(tt), est = arr(tp$est[k, ]), var = arr(tp$var[k, ]))
  }
  if (!is.null(fit$Tests)) {
    out$tests <- list(cause = arr(rownames(fit$Tests)), stat = arr(unname(fit$Tests[, "stat"])),
                      p = arr(unname(fit$Tests[, "pv"])), df = arr(unname(fit$Tests[, "df"])))
  }
  out
}

binom_summary <- function(x, n) {
  ci <- binom.test(x, n)$conf.int
  list(x = x, n = n, lower = ci[1], upper = ci[2])
}

# An analysis that fails for one file (e.g. a single group) is written as null, with a
# message, instead of stopping the whole script; the Python tests skip null entries.
safely <- function(label, expr) {
  tryCatch(expr, error = function(e) {
    message("  ", label, " failed: ", conditionMessage(e))
    NULL
  })
}

patient_frame <- function(d) {
  res <- list()
  res$km <- safely("km", km_summary(d$duration, d$event))
  res$km_by_group <- safely("km_by_group", {
    out <- list()
    for (g in sort(unique(as.character(d$group)))) {
      sel <- as.character(d$group) == g
      out[[g]] <- km_summary(d$duration[sel], d$event[sel])
    }
    out
  })
  res$reverse_km <- safely("reverse_km", km_summary(d$duration, 1 - d$event))
  res$logrank <- safely("logrank", {
    sd <- survdiff(Surv(duration, event) ~ group, data = d)
    list(groups = arr(sub("^group=", "", names(sd$n))), chisq = sd$chisq,
         df = length(sd$n) - 1, p = sd$pvalue, observed = arr(sd$obs), expected = arr(sd$exp))
  })
  res$cox <- safely("cox", cox_summary(
    coxph(Surv(duration, event) ~ bin1 + bin2 + cont, data = d, ties = "efron")))
  # Stratified by bin1: the log-rank test of group, and a Cox model of bin2 + cont.
  res$logrank_strata <- safely("logrank_strata", {
    sd <- survdiff(Surv(duration, event) ~ group + strata(bin1), data = d)
    list(groups = arr(sub("^group=", "", names(sd$n))), chisq = sd$chisq,
         df = length(sd$n) - 1, p = pchisq(sd$chisq, length(sd$n) - 1, lower.tail = FALSE),
         observed = arr(rowSums(as.matrix(sd$obs))), expected = arr(rowSums(as.matrix(sd$exp))))
  })
  res$cox_strata <- safely("cox_strata", cox_summary(
    coxph(Surv(duration, event) ~ bin2 + cont + strata(bin1), data = d, ties = "efron")))
  # Binary covariates only: most pairs have equal linear predictors (concordance ties).
  res$cox_tied_predictors <- safely("cox_tied_predictors", cox_summary(
    coxph(Surv(duration, event) ~ bin1 + bin2, data = d, ties = "efron")))
  res$cox_breslow <- safely("cox_breslow", cox_summary(
    coxph(Surv(duration, event) ~ bin1 + bin2 + cont, data = d, ties = "breslow")))
  res$cuminc <- safely("cuminc", cuminc_summary(d$duration, d$event_type))
  res$cuminc_by_group <- safely("cuminc_by_group",
                                cuminc_summary(d$duration, d$event_type, as.character(d$group)))
  res$binom <- safely("binom", binom_summary(sum(d$event), nrow(d)))
  # Breslow ties within strata, and Gray's test within strata (bin1)
  res$cox_strata_breslow <- safely("cox_strata_breslow", cox_summary(
    coxph(Surv(duration, event) ~ bin2 + cont + strata(bin1), data = d, ties = "breslow")))
  res$gray_strata <- safely("gray_strata", {
    tests <- cuminc(d$duration, d$event_type, as.character(d$group), strata = d$bin1, cencode = 0)$Tests
    list(cause = arr(rownames(tests)), stat = arr(unname(tests[, "stat"])),
         p = arr(unname(tests[, "pv"])), df = arr(unname(tests[, "df"])))
  })
  res
}

# Simon-Makuch: product-limit curves on (start, stop] data by the time-dependent state.
sm_summary <- function(d) {
  fit <- survfit(Surv(start, stop, event) ~ transplanted, data = d)
  out <- list()
  for (k in seq_along(fit$strata)) {
    s <- fit[k]
    at <- summary(s, times = FIXED_TIMES[FIXED_TIMES <= max(s$time)])
    out[[sub("^transplanted=", "", names(fit$strata)[k])]] <- list(
      time = arr(s$time), n_risk = arr(s$n.risk), n_event = arr(s$n.event), surv = arr(s$surv),
      std_err = arr(s$std.err * s$surv), lower = arr(s$lower), upper = arr(s$upper),
      at_time = arr(at$time), at_surv = arr(at$surv))
  }
  out
}

cp_frame <- function(d) {
  covs <- intersect(c("transplanted", "bin1", "cont"), names(d))
  f <- as.formula(paste("Surv(start, stop, event) ~", paste(covs, collapse = " + ")))
  list(simon_makuch = safely("simon_makuch", sm_summary(d)),
       cox_tv = safely("cox_tv", cox_summary(coxph(f, data = d, ties = "efron"))),
       cox_tv_breslow = safely("cox_tv_breslow", cox_summary(coxph(f, data = d, ties = "breslow"))),
       cox_tv_strata = if ("bin1" %in% covs) safely("cox_tv_strata", cox_summary(coxph(
         as.formula(paste("Surv(start, stop, event) ~",
                          paste(c(setdiff(covs, "bin1"), "strata(bin1)"), collapse = " + "))),
         data = d, ties = "efron"))) else NULL,
       cox_tv_strata_breslow = if ("bin1" %in% covs) safely("cox_tv_strata_breslow", cox_summary(coxph(
         as.formula(paste("Surv(start, stop, event) ~",
                          paste(c(setdiff(covs, "bin1"), "strata(bin1)"), collapse = " + "))),
         data = d, ties = "breslow"))) else NULL)
}

# ---------------------------------------------------------------- main
patient_cols <- c("duration", "event", "event_type", "group", "bin1", "bin2", "cont")
cp_cols <- c("id", "start", "stop", "event", "transplanted")
results <- list()
for (path in sort(list.files(data_dir, pattern = "\\.csv$", full.names = TRUE))) {
  name <- sub("\\.csv$", "", basename(path))
  d <- read.csv(path, stringsAsFactors = FALSE)
  if (all(patient_cols %in% names(d))) {
    results[[name]] <- patient_frame(d)
  } else if (all(cp_cols %in% names(d))) {
    results[[name]] <- cp_frame(d)
  } else {
    message("skipping ", basename(path), ": columns do not follow the convention")
    next
  }
  message("processed ", basename(path))
}

# Monotone likelihood: covariate x is 1 for exactly the patients with an event (data/separation.csv,
# columns t, e, x, z, w, skipped above). coxph stops by its own rule, flags x and reports z, w.
separation <- local({
  d <- read.csv(file.path(data_dir, "separation.csv"))
  fit <- suppressWarnings(coxph(Surv(t, e) ~ x + z + w, data = d, ties = "efron"))
  list(terms = arr(names(coef(fit))), coef = arr(unname(coef(fit))),
       se = arr(unname(sqrt(diag(vcov(fit))))), loglik = arr(fit$loglik), iter = fit$iter)
})

binom_fixed <- list(binom_summary(15, 37), binom_summary(0, 10), binom_summary(10, 10),
                    binom_summary(1, 1), binom_summary(34, 80))
out <- list(
  generated_by = "tests/reference/survival_reference.R",
  r_version = R.version.string,
  survival_version = as.character(packageVersion("survival")),
  cmprsk_version = as.character(packageVersion("cmprsk")),
  fixed_times = arr(FIXED_TIMES),
  datasets = results,
  separation = separation,
  binom_fixed = binom_fixed
)
writeLines(to_json(out), out_file)
message("wrote ", out_file)
