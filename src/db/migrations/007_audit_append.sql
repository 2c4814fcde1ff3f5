-- Appending an audit event in the same statement as the write it describes: the
-- statement moves the chain's head only from the head the gateway sealed the event
-- against (compare-and-set). When the head moved meanwhile, the statement must undo
-- the write too, so it raises this error and the gateway retries in a transaction
-- that locks the head.
CREATE FUNCTION rungate_audit_appended(appended bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF appended = 0 THEN
    RAISE EXCEPTION 'the audit chain head moved' USING ERRCODE = 'RG001';
  END IF;
  RETURN true;
END
$$;
