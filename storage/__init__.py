"""The only place that speaks SQL: tables, the engine, named queries and migrations."""
