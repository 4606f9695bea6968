"""Controlled vocabularies: the salvage regimens and agents the analyses group by (issue 14).

A salvage line keeps the regimen as entered (``SalvageLine.regimen``) and, once known, its code
(``SalvageLine.regimen_code``, a :class:`~registry.vocabularies.models.Regimen`). Picking a listed
regimen on the entry page (or sending its code through the API or the import) codes the line at
once; any other text is saved as "other" and waits, uncoded, until a data manager maps the text to
a code for all its lines (``/vocabularies/uncoded/``, ``services.code_regimen_text``). Analyses and
exports use the code.
"""
