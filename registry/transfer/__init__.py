"""Data in and out: the data dictionary, imports, exports (de-identified, identified, ODM)."""
