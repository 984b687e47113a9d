"""Pipeline: the stages put together. reconstruct.py: one photo -> one head."""
