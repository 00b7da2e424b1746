-- The check epoch: one number that moves on with every committed change to
-- what a token check reads (tokens, members, the organisation, the scope
-- catalogue), in the same transaction, whoever writes it (any instance,
-- the CLI, psql). An instance keeps found tokens while it is unchanged.
-- A new token or member is in no one's memory: inserting one moves nothing.
CREATE TABLE check_epoch (n BIGINT NOT NULL);
INSERT INTO check_epoch (n) VALUES (0);

-- Run at commit (deferred), once per transaction however many rows it
-- changed; taking the epoch's row lock last, it cannot deadlock with the
-- locks the transaction already holds.
CREATE FUNCTION latchkey_check_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('latchkey.check_changed', true), '') <> 'yes' THEN
        UPDATE check_epoch SET n = n + 1;
        PERFORM set_config('latchkey.check_changed', 'yes', true);
        PERFORM pg_notify('latchkey_checks', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER check_changed AFTER UPDATE OR DELETE ON api_tokens
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION latchkey_check_changed();
CREATE CONSTRAINT TRIGGER check_changed AFTER UPDATE OR DELETE ON members
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION latchkey_check_changed();
CREATE CONSTRAINT TRIGGER check_changed AFTER INSERT OR UPDATE OR DELETE ON organisations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION latchkey_check_changed();
CREATE CONSTRAINT TRIGGER check_changed AFTER INSERT OR UPDATE OR DELETE ON scopes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION latchkey_check_changed();
