/**
 * Waits for `work` with a deadline: its value or its own error, or, past `deadlineMs`,
 * an error naming `what`. Tests wait on the event they expect this way instead of
 * measuring how long it took: a deadline is generous and only turns a hang into a
 * failure with a reason; how fast things are is measured in `bench/`.
 */
export async function within<T>(work: Promise<T>, deadlineMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not happen within ${deadlineMs} ms`)),
      deadlineMs,
    );
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
