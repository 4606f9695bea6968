"""The pages coordinators, data managers and admins work in (views, forms, URLs)."""
