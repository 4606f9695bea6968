# Recompute every number of an MLL96/MLL98 registry report from its reproducibility package.
#
#   unzip the package into an empty folder, then:   Rscript reproduce.R
#
# Reads only the files beside it: data/*.csv (the de-identified analysis data set: days from
# diagnosis, no dates) and expected.json (the numbers the report shows, each with its recipe).
# Needs R with the survival and cmprsk packages (Debian: r-cran-survival, r-cran-cmprsk); no
# registry code. Prints how many numbers it reproduced and exits with status 1 on any difference
# larger than the tolerance in expected.json (1e-6), listing each.
#
# The endpoints are the registry's (docs/domain.md, docs/analysis-data-set.md):
#   os2       OS after second-line treatment: recurrent or refractory patients with a salvage line
#             on or after the recurrence; origin the start of the first such line; death from any
#             cause; censored at the last known date alive
#   os_dx     OS from diagnosis: everyone
#   efs_dx    EFS from diagnosis: induction failure (day 0), relapse, death, second malignancy
#   relapse   cumulative incidence of relapse from CR1; death in remission competes
#   nrm       non-relapse mortality after the first HSCT; relapse after it competes
#   landmark  os2 patients alive and followed 180 days after salvage start, clock restarted there
#   simon_makuch, td_cox  os2 split on the day of HSCT after recurrence and of salvage remission
#   salvage_regimen  salvage lines started on or after the recurrence, by regimen code ("" not
#             coded yet) and all together: complete remission among lines whose response is not NE,
#             exact (Clopper-Pearson) 95% CI as binom.test

suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
})

here <- local({
  arg <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(arg)) dirname(normalizePath(arg)) else "."
})

# ---------------------------------------------------------------- a small JSON reader
# expected.json is written by the registry with one key per line; jsonlite may be absent, so the
# numbers are read with a minimal parser of that (standard) JSON.
parse_json <- function(text) {
  pos <- 1L
  chars <- strsplit(text, "")[[1]]
  n <- length(chars)
  skip <- function() {
    while (pos <= n && chars[pos] %in% c(" ", "\n", "\t", "\r")) pos <<- pos + 1L
  }
  value <- function() {
    skip()
    ch <- chars[pos]
    if (ch == "{") {
      pos <<- pos + 1L; out <- list(); skip()
      if (chars[pos] == "}") { pos <<- pos + 1L; return(out) }
      repeat {
        skip(); key <- value(); skip(); pos <<- pos + 1L  # ':'
        out[[key]] <- value(); skip()
        if (chars[pos] == ",") { pos <<- pos + 1L; next }
        pos <<- pos + 1L; return(out)
      }
    }
    if (ch == "[") {
      pos <<- pos + 1L; out <- list(); skip()
      if (chars[pos] == "]") { pos <<- pos + 1L; return(out) }
      repeat {
        out[[length(out) + 1L]] <- value(); skip()
        if (chars[pos] == ",") { pos <<- pos + 1L; next }
        pos <<- pos + 1L; return(out)
      }
    }
    if (ch == "\"") {
      start <- pos + 1L; pos <<- start
      buf <- character(0)
      while (chars[pos] != "\"") {
        if (chars[pos] == "\\") { buf <- c(buf, chars[pos + 1L]); pos <<- pos + 2L }
        else { buf <- c(buf, chars[pos]); pos <<- pos + 1L }
      }
      pos <<- pos + 1L
      return(paste(buf, collapse = ""))
    }
    if (substr(paste(chars[pos:min(n, pos + 3L)], collapse = ""), 1, 4) == "null") { pos <<- pos + 4L; return(NULL) }
    if (substr(paste(chars[pos:min(n, pos + 3L)], collapse = ""), 1, 4) == "true") { pos <<- pos + 4L; return(TRUE) }
    if (substr(paste(chars[pos:min(n, pos + 4L)], collapse = ""), 1, 5) == "false") { pos <<- pos + 5L; return(FALSE) }
    start <- pos
    while (pos <= n && chars[pos] %in% c("-", "+", ".", "e", "E", as.character(0:9))) pos <<- pos + 1L
    as.numeric(paste(chars[start:(pos - 1L)], collapse = ""))
  }
  value()
}

expected <- parse_json(paste(readLines(file.path(here, "expected.json"), warn = FALSE), collapse = "\n"))
tolerance <- expected$tolerance
read_table <- function(name, classes = c(pseudonym = "character")) {
  read.csv(file.path(here, "data", paste0(name, ".csv")), fileEncoding = "UTF-8-BOM", na.strings = "",
           stringsAsFactors = FALSE, colClasses = classes)
}
p <- read_table("patients")

# ---------------------------------------------------------------- the endpoint frames
DAYS_PER_MONTH <- 365.25 / 12
LANDMARK <- 180
nz <- function(x) !is.na(x)
factors <- function(d) {
  d$first_remission <- ifelse(is.na(d$cr1_days), "induction failure",
    ifelse((d$relapse1_days - d$cr1_days) / DAYS_PER_MONTH < 6, "CR1 < 6 months", "CR1 >= 6 months"))
  d$relapse_site <- ifelse(is.na(d$relapse1_days), "induction failure",
    ifelse(d$relapse1_site == "BM", "isolated marrow", "extramedullary involved"))
  d
}
p <- factors(p)

os2 <- p[nz(p$recurrence_days) & nz(p$second_line_days), ]
os2$time <- pmax(os2$end_days - os2$second_line_days, 0)
os2$event <- as.integer(nz(os2$death_days))
os2$hsct <- as.integer(nz(os2$hsct_after_recurrence_days))
os2$hsct_time <- pmax(os2$hsct_after_recurrence_days - os2$second_line_days, 0)
os2$remission_time <- pmax(os2$salvage_remission_days - os2$second_line_days, 0)
os2$no_salvage_remission <- 1 - os2$salvage_remission

os_dx <- p
os_dx$time <- pmax(p$end_days, 0)
os_dx$event <- as.integer(nz(p$death_days))

efs <- p
first <- pmin(p$relapse1_days, p$death_days, p$second_malignancy_days, na.rm = TRUE)
efs$event <- as.integer(is.finite(first))
efs$time <- pmax(ifelse(is.finite(first), first, p$end_days), 0)
efs$time[nz(p$induction_failure_days)] <- 0
efs$event[nz(p$induction_failure_days)] <- 1

rel <- p[nz(p$cr1_days), ]
death_in_cr <- ifelse(is.na(rel$relapse1_days), rel$death_days, NA)
rel_first <- ifelse(nz(rel$relapse1_days), rel$relapse1_days, death_in_cr)
rel$time <- pmax(ifelse(nz(rel_first), rel_first, rel$end_days) - rel$cr1_days, 0)
rel$status <- ifelse(nz(rel$relapse1_days), 1, ifelse(nz(death_in_cr), 2, 0))

nrm <- p[nz(p$hsct1_days), ]
death_without <- ifelse(is.na(nrm$relapse_after_hsct_days), nrm$death_days, NA)
nrm_first <- ifelse(nz(nrm$relapse_after_hsct_days), nrm$relapse_after_hsct_days, death_without)
nrm$time <- pmax(ifelse(nz(nrm_first), nrm_first, nrm$end_days) - nrm$hsct1_days, 0)
nrm$status <- ifelse(nz(death_without), 1, ifelse(nz(nrm$relapse_after_hsct_days), 2, 0))

landmark <- os2[os2$time > LANDMARK, ]
landmark$time <- landmark$time - LANDMARK
landmark$hsct_by_landmark <- as.integer(nz(landmark$hsct_time) & landmark$hsct_time <= LANDMARK)
landmark$remission_by_landmark <- as.integer(nz(landmark$remission_time) & landmark$remission_time <= LANDMARK)

# Counting process: follow-up split on the day of HSCT and of salvage remission (0 < day < time).
cp_rows <- list()
for (i in seq_len(nrow(os2))) {
  r <- os2[i, ]
  if (r$time <= 0) next
  cuts <- sort(unique(c(r$hsct_time, r$remission_time)))
  cuts <- cuts[nz(cuts) & cuts > 0 & cuts < r$time]
  bounds <- c(0, cuts, r$time)
  for (k in seq_len(length(bounds) - 1)) {
    start <- bounds[k]; stop <- bounds[k + 1]
    cp_rows[[length(cp_rows) + 1]] <- data.frame(
      id = r$pseudonym, start = start, stop = stop, event = as.integer(r$event == 1 && stop == r$time),
      hsct = as.integer(nz(r$hsct_time) && r$hsct_time <= start),
      salvage_remission = as.integer(nz(r$remission_time) && r$remission_time <= start),
      age_under_3_months = r$age_under_3_months, cns_involvement = r$cns_involvement)
  }
}
cp <- do.call(rbind, cp_rows)

frames <- list(os2 = os2, os_dx = os_dx, efs_dx = efs, landmark = landmark)

# Remission after salvage by regimen: the salvage lines started on or after the first relapse or
# induction failure, numbered per patient in order of start (1 = second-line therapy); regimen
# code "" while not coded.
salvage <- read_table("salvage_lines", c(pseudonym = "character", regimen_code = "character",
                                         response = "character"))
salvage <- merge(salvage, p[, c("pseudonym", "recurrence_days")], by = "pseudonym")
salvage <- salvage[nz(salvage$start_days) & nz(salvage$recurrence_days) &
                     salvage$start_days >= salvage$recurrence_days, ]
salvage <- salvage[order(salvage$pseudonym, salvage$start_days, salvage$line_number), ]
salvage$number <- ave(seq_len(nrow(salvage)), salvage$pseudonym, FUN = seq_along)
salvage$regimen_code[is.na(salvage$regimen_code)] <- ""

# ---------------------------------------------------------------- the statistics
subset_of <- function(d, factor, level) {
  if (is.null(factor)) return(d)
  d[as.character(d[[factor]]) == level, ]
}
km_at <- function(d, time, what) {
  fit <- survfit(Surv(d$time, d$event) ~ 1)
  s <- summary(fit, times = time, extend = TRUE)
  if (what == "survival") s$surv else s$std.err
}
km_median <- function(d) unname(quantile(survfit(Surv(d$time, d$event) ~ 1), probs = 0.5)$quantile)
sm_fit <- survfit(Surv(start, stop, event) ~ hsct, data = cp)
compute <- function(x) {
  kind <- x$kind
  if (kind == "count") {
    rr <- p[p$recurrent_or_refractory == 1, ]
    status <- c(CR1 = "in_remission", `CR2+` = "in_remission", NOT_CR = "not_in_remission", UNKNOWN = "unknown")
    hsct <- status[rr$hsct_after_recurrence_status[nz(rr$hsct_after_recurrence_days)]]
    return(switch(x$what,
      n_registered = nrow(p), n_relapsed = sum(nz(p$relapse1_days)),
      n_induction_failure = sum(nz(p$induction_failure_days)), n_recurrent_or_refractory = nrow(rr),
      n_with_second_line = sum(nz(rr$second_line_days)), n_dead = sum(p$dead == 1),
      hsct_n = length(hsct), hsct_in_remission = sum(hsct == "in_remission"),
      hsct_not_in_remission = sum(hsct == "not_in_remission"), hsct_unknown = sum(hsct == "unknown")))
  }
  if (kind == "salvage") {
    rr <- p[p$recurrent_or_refractory == 1 & p$salvage_evaluable %in% c(1, "1", "True", TRUE), ]
    k <- sum(rr$salvage_remission == 1); n <- nrow(rr)
    ci <- binom.test(k, n)$conf.int
    return(switch(x$what, successes = k, n = n, lower = ci[1], upper = ci[2]))
  }
  if (kind == "salvage_regimen") {
    d <- if (is.null(x$regimen_code)) salvage else salvage[salvage$regimen_code == x$regimen_code, ]
    evaluable <- d[d$response != "NE", ]
    if (x$what %in% c("successes", "proportion", "lower", "upper")) {
      k <- sum(evaluable$response == "CR"); n <- nrow(evaluable)
      # exact (Clopper-Pearson) interval, as binom.test(k, n)$conf.int
      lower <- if (k == 0) 0 else qbeta(0.025, k, n - k + 1)
      upper <- if (k == n) 1 else qbeta(0.975, k + 1, n - k)
      return(switch(x$what, successes = k, proportion = k / n, lower = lower, upper = upper))
    }
    return(switch(x$what, n_lines = nrow(d), n_patients = length(unique(d$pseudonym)),
                  n_second_line = sum(d$number == 1), n_evaluable = nrow(evaluable)))
  }
  if (kind == "first_remission") {
    months <- ((p$relapse1_days - p$cr1_days) / DAYS_PER_MONTH)[nz(p$relapse1_days)]
    return(switch(x$what, n = length(months), median = median(months), min = min(months), max = max(months)))
  }
  if (kind %in% c("characteristic", "characteristic_median")) {
    d <- switch(x$group, recurrent_or_refractory = p[p$recurrent_or_refractory == 1, ],
                other = p[p$recurrent_or_refractory == 0, ], all = p)
    column <- if (x$variable == "age_days") "age_at_diagnosis_days" else x$variable
    if (kind == "characteristic_median") return(median(d[[column]], na.rm = TRUE))
    return(sum(as.character(d[[column]]) == as.character(x$level), na.rm = TRUE))
  }
  if (kind == "km" || kind == "median") {
    if (x$endpoint == "simon_makuch") {
      s <- sm_fit[paste0("hsct=", x$level)]
      if (kind == "median") return(unname(quantile(s, probs = 0.5)$quantile))
      at <- summary(s, times = x$time, extend = TRUE)
      return(if (x$what == "survival") at$surv else at$std.err)
    }
    d <- subset_of(frames[[x$endpoint]], x$factor, x$level)
    if (kind == "median") return(km_median(d))
    return(km_at(d, x$time, x$what))
  }
  if (kind == "logrank") {
    d <- frames[[x$endpoint]]
    return(survdiff(Surv(d$time, d$event) ~ as.character(d[[x$factor]]))$chisq)
  }
  if (kind == "follow_up") {
    d <- frames[[x$endpoint]]
    return(unname(quantile(survfit(Surv(d$time, 1 - d$event) ~ 1), probs = 0.5)$quantile))
  }
  if (kind == "cox") {
    fit <- switch(x$model,
      os2_cox = coxph(Surv(time, event) ~ age_under_3_months + cns_involvement + wbc_100_or_more +
                        no_salvage_remission, data = os2, ties = "efron"),
      td_cox = coxph(Surv(start, stop, event) ~ hsct + salvage_remission + age_under_3_months +
                       cns_involvement, data = cp, ties = "efron"),
      landmark_cox = coxph(Surv(time, event) ~ hsct_by_landmark + remission_by_landmark, data = landmark,
                           ties = "efron"))
    return(if (x$what == "coef") unname(coef(fit)[x$term]) else unname(sqrt(diag(vcov(fit)))[x$term]))
  }
  if (kind %in% c("cif", "gray")) {
    d <- if (x$endpoint == "relapse") rel else nrm
    if (kind == "gray") {
      fit <- cuminc(d$time, d$status, as.character(d[[x$group]]), cencode = 0)
      return(unname(fit$Tests["1", "stat"]))
    }
    d <- subset_of(d, x$group, x$level)
    fit <- cuminc(d$time, d$status, cencode = 0)
    return(unname(timepoints(fit, x$time)$est["1 1", 1]))
  }
  stop("unknown kind ", kind)
}

# ---------------------------------------------------------------- compare
failed <- 0
checked <- 0
for (x in expected$numbers) {
  got <- tryCatch(compute(x), error = function(e) { message(x$id, ": ", conditionMessage(e)); NA })
  got <- if (length(got)) as.numeric(got[1]) else NA
  checked <- checked + 1
  if (is.na(got) || abs(got - x$value) > tolerance) {
    failed <- failed + 1
    cat(sprintf("DIFFERENT %s: report %.10g, R %s\n", x$id, x$value, format(got, digits = 10)))
  }
}
cat(sprintf("%d of %d numbers of the report reproduced with R %s, survival %s, cmprsk %s (tolerance %g).\n",
            checked - failed, checked, getRversion(), packageVersion("survival"), packageVersion("cmprsk"),
            tolerance))
quit(status = if (failed == 0) 0 else 1)
