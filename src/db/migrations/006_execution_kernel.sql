-- The kernel that ran each execution: a mutating cell runs only after every code cell
-- above it has run, in order and successfully, on the session's current kernel.
ALTER TABLE executions ADD COLUMN kernel_id text;
