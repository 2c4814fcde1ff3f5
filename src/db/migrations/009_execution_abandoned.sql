-- `abandoned`: an execution that had reached its kernel when the gateway holding that
-- kernel went away without ending it (a crash, SIGKILL). Whether its code ran to the
-- end is unknown; a later process records that it was left, with an audit event.
ALTER TABLE executions DROP CONSTRAINT executions_state_check;
ALTER TABLE executions ADD CONSTRAINT executions_state_check
  CHECK (state IN ('queued', 'running', 'ok', 'error', 'interrupted', 'kernel_died', 'cancelled',
                   'abandoned'));
