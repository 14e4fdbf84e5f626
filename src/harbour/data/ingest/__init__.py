"""Validated, atomic ingestion of platform data into the lake (see :mod:`.service`)."""
