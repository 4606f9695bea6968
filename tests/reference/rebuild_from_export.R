# Rebuild the stored analyses of OS after second-line treatment from the de-identified export.
#
#   Rscript tests/reference/rebuild_from_export.R <folder> [<output.json>]
#
# <folder> holds the CSV files of the analysis ZIP (GET /api/v1/exports/analysis/zip/, or the
# Exports page), unzipped: patients.csv, first_line_responses.csv, relapses.csv,
# salvage_lines.csv, transplants.csv, follow_ups.csv. Nothing else is read: no database, no
# registry code. The output (default tests/reference/export_rebuild.json) is JSON written by hand
# (jsonlite is not needed). tests/test_export_rebuild.py compares it with the stored runs.
#
# The definitions are the registry's (analysis/datasets.py, docs/analysis-data-set.md):
#   recurrence       first relapse, else the induction failure (days from diagnosis)
#   population       recurrent or refractory patients with a salvage line started on or after
#                    the recurrence; origin = start of the first such line (second_line_days)
#   event            death from any cause; censored at the last known date alive
#   HSCT             the first transplant on or after the recurrence (a CR1 transplant does not count)
#   salvage remission  the first CR of a salvage line started on or after the recurrence
# Reported: the Kaplan-Meier estimate at 1, 3 and 5 years with its (Greenwood) standard error,
# the log-rank test by HSCT after recurrence, and the Cox model with HSCT and salvage remission
# as time-dependent covariates (counting-process data split on the day each happens; Efron ties)
# adjusted for age < 3 months and CNS involvement.
#
# Every interval is derived from the event tables and checked against the patients table, so the
# script also shows that the one-row-per-patient facts follow from the events.

suppressPackageStartupMessages(library(survival))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 1) stop("usage: Rscript rebuild_from_export.R <folder with the exported CSV files> [<output.json>]")
folder <- args[1]
out_file <- if (length(args) >= 2) args[2] else {
  script <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  file.path(if (length(script)) dirname(normalizePath(script)) else "tests/reference", "export_rebuild.json")
}
FIXED_TIMES <- c(365.25, 1095.75, 1826.25)

read_table <- function(name) {
  read.csv(file.path(folder, paste0(name, ".csv")), fileEncoding = "UTF-8-BOM", na.strings = "",
           stringsAsFactors = FALSE, colClasses = c(pseudonym = "character"))
}
patients <- read_table("patients")

# The SAS transport version 5 export (format xpt5), where it lies beside the CSVs, must say the
# same: R's foreign::read.xport reads it (8-character names; the long names are its labels).
if (file.exists(file.path(folder, "patients.xpt"))) {
  suppressPackageStartupMessages(library(foreign))
  xpt <- read.xport(file.path(folder, "patients.xpt"))
  if (nrow(xpt) != nrow(patients)) stop("patients.xpt has ", nrow(xpt), " rows, patients.csv ", nrow(patients))
  same <- function(a, b) all((is.na(a) & is.na(b)) | (!is.na(a) & !is.na(b) & a == b))
  ord <- match(patients$pseudonym, trimws(as.character(xpt$PSEUDONY)))
  if (anyNA(ord)) stop("patients.xpt and patients.csv do not hold the same pseudonyms")
  if (!same(xpt$SECOND_L[ord], patients$second_line_days) || !same(xpt$END_DAYS[ord], patients$end_days))
    stop("patients.xpt and patients.csv disagree on second_line_days or end_days")
  message("read patients.xpt (SAS transport v5) with foreign::read.xport: ", nrow(xpt), " rows, as patients.csv")
}
first_line <- read_table("first_line_responses")
relapses <- read_table("relapses")
salvage <- read_table("salvage_lines")
transplants <- read_table("transplants")
follow_ups <- read_table("follow_ups")

# per-patient minimum of x over the rows of an event table that pass `keep` (NA: none)
first_of <- function(table, x, keep = rep(TRUE, nrow(table))) {
  keep <- keep & !is.na(x)
  out <- rep(NA_real_, nrow(patients))
  if (any(keep)) {
    m <- tapply(x[keep], table$pseudonym[keep], min)
    out <- as.numeric(m[patients$pseudonym])
  }
  out
}
by_patient <- function(table, column) table[[column]][match(patients$pseudonym, table$pseudonym)]

# ---------------------------------------------------------------- the course, from the events
relapse1 <- first_of(relapses, relapses$relapse_days)
outcome <- by_patient(first_line, "outcome")
assessment <- by_patient(first_line, "assessment_days")
induction_failure <- ifelse(!is.na(outcome) & outcome == "INDUCTION_FAILURE", assessment, NA)
recurrence <- ifelse(is.na(relapse1), induction_failure, relapse1)
rec_of <- function(table) recurrence[match(table$pseudonym, patients$pseudonym)]
after_salvage <- salvage$start_days >= rec_of(salvage)
after_salvage[is.na(after_salvage)] <- FALSE
second_line <- first_of(salvage, salvage$start_days, after_salvage)
remission <- first_of(salvage, salvage$response_days, after_salvage & salvage$response %in% "CR")
after_hsct <- transplants$transplant_days >= rec_of(transplants)
after_hsct[is.na(after_hsct)] <- FALSE
hsct_after <- first_of(transplants, transplants$transplant_days, after_hsct)
hsct_first <- first_of(transplants, transplants$transplant_days)
death <- first_of(follow_ups, follow_ups$death_days)
last_contact <- -first_of(follow_ups, -follow_ups$contact_days)  # the latest contact
# without any contact: the latest recorded date (diagnosis = day 0, first-line response, first
# relapse, second line, first HSCT, death)
known <- pmax(0, assessment, relapse1, second_line, hsct_first, death, na.rm = TRUE)
last_known <- ifelse(is.na(last_contact), known, last_contact)
end <- ifelse(is.na(death), last_known, death)

same <- function(derived, column) {
  exported <- patients[[column]]
  ok <- (is.na(derived) & is.na(exported)) | (!is.na(derived) & !is.na(exported) & derived == exported)
  if (!all(ok)) stop(sprintf("%s: the events give %d different value(s) from patients.csv", column, sum(!ok)))
}
same(recurrence, "recurrence_days")
same(second_line, "second_line_days")
same(remission, "salvage_remission_days")
same(hsct_after, "hsct_after_recurrence_days")
same(death, "death_days")
same(end, "end_days")
stopifnot(all(salvage$after_recurrence == as.integer(after_salvage)),
          all(transplants$after_recurrence == as.integer(after_hsct)))

# ---------------------------------------------------------------- OS after second-line treatment
pop <- !is.na(recurrence) & !is.na(second_line)
os2 <- data.frame(
  pseudonym = patients$pseudonym[pop],
  time = pmax(0, end[pop] - second_line[pop]),
  event = as.integer(!is.na(death[pop])),
  hsct = as.integer(!is.na(hsct_after[pop])),
  hsct_days = pmax(0, hsct_after[pop] - second_line[pop]),
  remission_days = pmax(0, remission[pop] - second_line[pop]),
  age_under_3_months = patients$age_under_3_months[pop],
  cns_involvement = patients$cns_involvement[pop],
  stringsAsFactors = FALSE
)

fit <- survfit(Surv(time, event) ~ 1, data = os2)
at <- summary(fit, times = FIXED_TIMES[FIXED_TIMES <= max(os2$time)])
pad <- function(x) c(x, rep(NA, length(FIXED_TIMES) - length(x)))

lr <- survdiff(Surv(time, event) ~ hsct, data = os2)

# counting process: cut at each change c with 0 < c < time; a status is 1 from the cut on (a
# change on day 0 counts from the start); only the last interval carries the death; patients
# with 0 days of follow-up are left out
rows <- list()
for (i in seq_len(nrow(os2))) {
  p <- os2[i, ]
  if (p$time <= 0) next
  changes <- c(p$hsct_days, p$remission_days)
  cuts <- sort(unique(changes[!is.na(changes) & changes > 0 & changes < p$time]))
  start <- c(0, cuts)
  stop <- c(cuts, p$time)
  rows[[length(rows) + 1]] <- data.frame(
    id = p$pseudonym, start = start, stop = stop,
    event = ifelse(stop == p$time, p$event, 0L),
    hsct = as.integer(!is.na(p$hsct_days) & p$hsct_days <= start),
    salvage_remission = as.integer(!is.na(p$remission_days) & p$remission_days <= start),
    age_under_3_months = p$age_under_3_months, cns_involvement = p$cns_involvement,
    stringsAsFactors = FALSE
  )
}
cp <- do.call(rbind, rows)
cox <- coxph(Surv(start, stop, event) ~ hsct + salvage_remission + age_under_3_months + cns_involvement,
             data = cp, ties = "efron", control = coxph.control(eps = 1e-10, iter.max = 100))
cs <- summary(cox)$coefficients

# ---------------------------------------------------------------- minimal JSON writer
num <- function(x) ifelse(is.na(x) | !is.finite(x), "null", sprintf("%.17g", x))
str_ <- function(x) paste0("\"", gsub("\"", "\\\\\"", x), "\"")
vec <- function(x, f = num) paste0("[", paste(f(x), collapse = ","), "]")
obj <- function(...) {
  x <- list(...)
  paste0("{", paste(paste0(str_(names(x)), ":", unlist(x)), collapse = ","), "}")
}
json <- obj(
  generated_by = str_("tests/reference/rebuild_from_export.R"),
  r_version = str_(R.version.string),
  survival_version = str_(as.character(packageVersion("survival"))),
  counts = obj(patients = num(nrow(patients)), relapses = num(nrow(relapses)),
               salvage_lines = num(nrow(salvage)), transplants = num(nrow(transplants)),
               follow_ups = num(nrow(follow_ups))),
  os_after_second_line = obj(
    n = num(nrow(os2)), n_events = num(sum(os2$event)),
    km = obj(time = vec(FIXED_TIMES), surv = vec(pad(at$surv)), std_err = vec(pad(at$std.err)))
  ),
  logrank_hsct = obj(
    groups = vec(sub("hsct=", "", names(lr$n)), str_), n = vec(as.numeric(lr$n)),
    chisq = num(lr$chisq), df = num(length(lr$n) - 1),
    p = num(pchisq(lr$chisq, length(lr$n) - 1, lower.tail = FALSE))
  ),
  time_dependent_cox = obj(
    n_patients = num(length(unique(cp$id))), n_intervals = num(nrow(cp)), n_events = num(sum(cp$event)),
    terms = vec(rownames(cs), str_), coef = vec(cs[, "coef"]), se = vec(cs[, "se(coef)"]),
    p = vec(cs[, "Pr(>|z|)"])
  )
)
writeLines(json, out_file)
cat("wrote", out_file, "\n")
