"""Shared plumbing: settings, database, tenancy, auth and roles, audit log, errors, HTTP helpers."""
