"""The trail as PostgreSQL keeps it: change capture by triggers, a hash chain, its verifier.

On PostgreSQL (migrations 0008 and 0012) every INSERT, UPDATE and DELETE of a clinical table is
written to its django-simple-history table by a trigger (once per statement, from its transition
table, each column copied as it is), whatever the path (ORM, base manager, raw SQL, psql). The
application hands its actor to the trigger in transaction-local settings
(``registry.audit.recorded_write``); a write with no such context is recorded with the
database role as its source (``db:<role>``) and no reason.

Every history table (clinical records, centers, roles) is hash-chained: each row has
``chain_seq`` (1, 2, ...) and ``chain_hash`` = sha256(previous hash || the row as canonical JSON
without the chain columns), and the table's head (:class:`TrailHead`) holds the last link. The
capture trigger links a statement's rows itself, set-based, in the INSERT that writes them (a
running aggregate over the rows in ``id`` order) and moves the head once; a BEFORE INSERT row
trigger links every other insert (centers, roles, raw SQL), overwriting any link it brings, so
only the trail owner's own trigger functions can hand one in. The chain columns exist in SQL
only; Django never reads them. :func:`verify` recomputes every chain and reports the first
broken, edited or missing link, rows written with the triggers switched off, and clinical rows
that differ from their latest history row. On SQLite (the embedded demo) there is no chain and
nothing to verify.
"""

from dataclasses import dataclass, field

from django.apps import apps
from django.db import connections, models, transaction
from django.utils.translation import gettext_lazy as _

# Every history table of the registry app; the first six are the clinical ones.
CLINICAL_TABLES = {
    "registry_patient": "registry_historicalpatient",
    "registry_firstlineresponse": "registry_historicalfirstlineresponse",
    "registry_relapse": "registry_historicalrelapse",
    "registry_salvageline": "registry_historicalsalvageline",
    "registry_transplant": "registry_historicaltransplant",
    "registry_followup": "registry_historicalfollowup",
}
HISTORY_TABLES = [*CLINICAL_TABLES.values(), "registry_historicalcenter", "registry_historicalmembership"]


class TrailHead(models.Model):
    """The last link of one history table's hash chain: how many rows it holds and the last hash.

    Written only by the trail's triggers (SECURITY DEFINER functions owned by the migration
    role); the application role may read it, never change it.
    """

    table_name = models.CharField(max_length=63, primary_key=True)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, blank=True)

    class Meta:
        app_label = "registry"

    def __str__(self):
        return f"{self.table_name} #{self.seq}"


class AuditCheck(models.Model):
    """The result of one ``verify_audit`` run; ``heads`` anchors each chain as it was seen then."""

    ran_at = models.DateTimeField(auto_now_add=True)
    ok = models.BooleanField()
    message = models.TextField()
    heads = models.JSONField(default=dict, blank=True)

    class Meta:
        app_label = "registry"
        ordering = ["-ran_at", "-pk"]

    def __str__(self):
        return f"{'intact' if self.ok else 'BROKEN'} at {self.ran_at:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class Finding:
    table: str
    where: str  # which row: "history_id 12 (seq 7)", "id 4", "head"
    problem: str

    def __str__(self):
        return f"{self.table} {self.where}: {self.problem}"


@dataclass
class Verification:
    findings: list = field(default_factory=list)
    rows: int = 0
    records: int = 0
    heads: dict = field(default_factory=dict)

    @property
    def ok(self):
        return not self.findings

    def summary(self):
        if self.ok:
            return (
                f"Audit trail intact: {len(HISTORY_TABLES)} history tables, {self.rows} chained rows; "
                f"{self.records} clinical records match their latest history row."
            )
        return "Audit trail BROKEN: " + "; ".join(str(finding) for finding in self.findings)


def supported(using="default"):
    return connections[using].vendor == "postgresql"


_LINKS = """
SELECT history_id, chain_seq, problem FROM (
    SELECT history_id, chain_seq,
        CASE
            WHEN chain_seq IS NULL THEN 'unchained'
            WHEN chain_seq <> coalesce(lag(chain_seq) OVER w, 0) + 1 THEN 'gap'
            WHEN chain_hash IS DISTINCT FROM registry_trail_link(coalesce(lag(chain_hash) OVER w, ''), to_jsonb(h))
                THEN 'hash'
        END AS problem
    FROM {table} h WINDOW w AS (ORDER BY chain_seq, history_id)
) links WHERE problem IS NOT NULL ORDER BY chain_seq NULLS FIRST, history_id LIMIT 1
"""
_PROBLEMS = {
    "unchained": "written with the chain trigger switched off (no chain link)",
    "gap": "the chain skips here: the rows before it were deleted",
    "hash": "hash does not match: this row, or the one before it, was edited",
}
_TAIL = (
    "SELECT count(*), max(chain_seq),"
    " (SELECT chain_hash FROM {table} ORDER BY chain_seq DESC NULLS LAST LIMIT 1) FROM {table}"
)
# A current clinical row must equal its latest history row (which must not be a deletion);
# a record whose latest history row is not a deletion must still exist. One pass per table
# gives the record count and the first offending id of each kind. The latest history row per
# id comes from one sort of the history table, and the FULL JOIN can only be planned as a hash
# or merge join: the check takes seconds whether or not the tables have planner statistics
# (a per-row lookup of the latest history row was planned as a scan of the whole history
# table for every record before the first ANALYZE of a bulk import).
_RECORDS = """
SELECT count(c.id),
    min(c.id) FILTER (WHERE c.id IS NOT NULL
                      AND (latest.id IS NULL OR latest.history_type = '-' OR NOT (to_jsonb(c) <@ latest.j))),
    min(latest.id) FILTER (WHERE c.id IS NULL AND latest.history_type <> '-')
FROM {clinical} c
FULL JOIN (SELECT DISTINCT ON (id) id, history_type, to_jsonb(h) AS j FROM {history} h ORDER BY id, history_id DESC)
    latest ON latest.id = c.id
"""


def verify(using="default", anchors=None):
    """Recompute every history table's chain; a :class:`Verification` (PostgreSQL only).

    ``anchors`` ({table: [seq, hash]}, from the last intact check) must still be found: a
    chain rewritten from some row to its end is then caught too.
    """
    result = Verification()
    anchors = anchors or {}
    heads = {head.table_name: head for head in TrailHead.objects.using(using).all()}
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("SET LOCAL TimeZone TO 'UTC'")  # the trigger hashes timestamps in UTC
        for table in HISTORY_TABLES:
            result.findings += _check_chain(cursor, table, heads.get(table), anchors.get(table), result)
        for clinical, history in CLINICAL_TABLES.items():
            cursor.execute(_RECORDS.format(clinical=clinical, history=history))
            count, unrecorded, vanished = cursor.fetchone()
            result.records += count
            if unrecorded is not None:
                problem = "its current values differ from its latest history row (changed without a trail)"
                result.findings.append(Finding(clinical, f"id {unrecorded}", problem))
            if vanished is not None:
                problem = "the history says it exists, but the row is gone (deleted without a trail)"
                result.findings.append(Finding(clinical, f"id {vanished}", problem))
    return result


def _check_chain(cursor, table, head, anchor, result):
    findings = []
    cursor.execute(_LINKS.format(table=table))
    row = cursor.fetchone()
    if row:
        history_id, seq, problem = row
        findings.append(Finding(table, f"history_id {history_id} (seq {seq})", _PROBLEMS[problem]))
    cursor.execute(_TAIL.format(table=table))
    count, last_seq, last_hash = cursor.fetchone()
    result.rows += count
    head_seq, head_hash = (head.seq, head.hash) if head else (0, "")
    result.heads[table] = [last_seq or 0, last_hash or ""]
    if head is None and count:
        findings.append(Finding(table, "head", "the chain head is missing"))
    elif head_seq > (last_seq or 0):
        findings.append(
            Finding(table, "head", f"rows {(last_seq or 0) + 1}..{head_seq} are missing (deleted or truncated)")
        )
    elif head_seq < (last_seq or 0) or (head_seq and head_hash != last_hash):
        findings.append(Finding(table, f"seq {last_seq}", "the last row does not match the chain head"))
    if anchor and anchor[0]:
        cursor.execute(f"SELECT history_id, chain_hash FROM {table} WHERE chain_seq = %s", [anchor[0]])
        found = cursor.fetchall()
        if len(found) != 1 or found[0][1] != anchor[1]:
            findings.append(
                Finding(table, f"seq {anchor[0]}", "differs from the row the last intact check saw (chain rewritten)")
            )
    return findings


def run_check(using="default"):
    """Verify the trail and store the result as an :class:`AuditCheck`; returns it (None on SQLite)."""
    if not supported(using):
        return None
    last = AuditCheck.objects.using(using).filter(ok=True).first()
    result = verify(using, anchors=last.heads if last else None)
    return AuditCheck.objects.using(using).create(ok=result.ok, message=result.summary(), heads=result.heads)


def last_check():
    return AuditCheck.objects.first()


def grant_app_role(role, using="default"):
    """Grant the application's database role what it needs and no more (PostgreSQL).

    Read and write on every table, except the trail: history tables, the chain heads and the
    audit checks are read and append only (their triggers run as the owner). The role owns
    nothing, so it can neither TRUNCATE, ALTER (disable a trigger) nor DROP a table, and as a
    non-superuser it cannot set ``session_replication_role``. Idempotent; run it after every
    ``migrate``.
    """
    connection = connections[using]
    quote = connection.ops.quote_name
    # The trail, and the other append-only records: security events and the export log.
    append_only = {
        *HISTORY_TABLES,
        TrailHead._meta.db_table,
        AuditCheck._meta.db_table,
        apps.get_model("security", "SecurityEvent")._meta.db_table,
        apps.get_model("registry", "ExportLog")._meta.db_table,
    }
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = quote(cursor.fetchone()[0])
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
        tables = [name for (name,) in cursor.fetchall()]
        cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {quote(role)}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {quote(role)}")
        for table in tables:
            cursor.execute(f"REVOKE ALL ON {quote(table)} FROM {quote(role)}")
            # Every simple-history table (the queries' too, not chained) is read and append only.
            kept = table in append_only or "_historical" in table
            rights = "SELECT, INSERT" if kept else "SELECT, INSERT, UPDATE, DELETE"
            # The chain heads, and the log of which patients changed (the analyses' course table
            # is kept up to date from it): written by triggers only.
            if table in (TrailHead._meta.db_table, "registry_coursechange"):
                rights = "SELECT"
            cursor.execute(f"GRANT {rights} ON {quote(table)} TO {quote(role)}")
    return tables


NOT_SUPPORTED = _("The hash-chained trail is kept on PostgreSQL only; there is nothing to verify on this database.")
