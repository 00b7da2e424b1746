-- The check epoch: one number that moves on with every committed change to
-- what a token check reads (the token columns and member columns a check
-- reads, the organisation, the scope catalogue), in the same transaction,
-- whoever writes it (any instance, the CLI, psql). An instance keeps found
-- tokens while it is unchanged. A new token or member is in no one's
-- memory, and a token's last use, a member's password or second factor is
-- in no check: writing those moves nothing.
CREATE TABLE check_epoch (
    id BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    n BIGINT NOT NULL
);
INSERT INTO check_epoch (n) VALUES (0);

-- Run at commit (deferred), once per transaction however many rows it
-- changed; taking the epoch's row lock last, it cannot deadlock with the
-- locks the transaction already holds. Latchkey's writers announce the
-- change themselves (and wait for every instance to see it); others are
-- seen at the instances' next renewal.
-- As its owner (with its own search path): whoever may write a token may
-- move the epoch, with no grant of their own.
CREATE FUNCTION latchkey_check_changed() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF coalesce(current_setting('latchkey.check_changed', true), '') <> 'yes' THEN
        UPDATE check_epoch SET n = n + 1;
        PERFORM set_config('latchkey.check_changed', 'yes', true);
    END IF;
    RETURN NULL;
END
$$;

-- The columns `db::credentials` reads (last use only throttles its own
-- write); `db::check_leases::UNREAD_COLUMNS` names the others.
CREATE CONSTRAINT TRIGGER check_changed
    AFTER UPDATE OF id, org_id, owner_id, name, token_hash, scopes, expires_at, created_at,
        revoked_at, replaced_by, revoked_reason, allowed_ips, canary, suspended_at
        OR DELETE ON api_tokens
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION latchkey_check_changed();
CREATE CONSTRAINT TRIGGER check_changed
    AFTER UPDATE OF id, org_id, email, role, disabled, created_at, kind, tokens_valid_after
        OR DELETE ON members
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION latchkey_check_changed();
CREATE CONSTRAINT TRIGGER check_changed AFTER INSERT OR UPDATE OR DELETE ON organisations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION latchkey_check_changed();
CREATE CONSTRAINT TRIGGER check_changed AFTER INSERT OR UPDATE OR DELETE ON scopes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION latchkey_check_changed();
