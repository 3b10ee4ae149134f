-- pg_trgm ships with PostgreSQL contrib; the name autosuggest indexes use it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
