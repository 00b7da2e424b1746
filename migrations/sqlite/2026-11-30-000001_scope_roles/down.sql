ALTER TABLE organisations DROP COLUMN scope_min_roles;
