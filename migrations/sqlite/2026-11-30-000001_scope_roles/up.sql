-- Per-organisation minimum roles for scopes, as "scope=role" pairs that differ from the catalogue.
ALTER TABLE organisations ADD COLUMN scope_min_roles TEXT NOT NULL DEFAULT '';
