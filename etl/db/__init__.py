"""Database layer: schema, engines, per-dialect helpers and migrations."""
