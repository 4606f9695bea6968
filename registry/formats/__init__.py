"""Date formats per language (settings.FORMAT_MODULE_PATH): ISO dates in English and Japanese alike.

Clinical dates are read and typed as YYYY-MM-DD everywhere (pages, forms, exports), so a date
never changes shape with the language: Django's own Japanese format (1996年5月9日) and English
one (May 9, 1996) are replaced here.
"""
