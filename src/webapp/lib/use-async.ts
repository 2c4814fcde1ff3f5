import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/** A value loaded from the gateway, with its loading and error states. */
export interface Async<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Loads again, keeping the current data on screen meanwhile. */
  reload(): Promise<void>;
  /** Replaces the data locally (after a write that answered the new value). */
  set(data: T): void;
}

export function useAsync<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Async<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const current = useRef<AbortController | null>(null);
  // The caller names what the load depends on, as with useEffect.
  const run = useCallback(load, deps);

  const reload = useCallback(async () => {
    current.current?.abort();
    const ctl = new AbortController();
    current.current = ctl;
    setLoading(true);
    try {
      const value = await run(ctl.signal);
      if (ctl.signal.aborted) return;
      setData(value);
      setError(undefined);
    } catch (err) {
      if (ctl.signal.aborted) return;
      setError(err);
    } finally {
      if (!ctl.signal.aborted) setLoading(false);
    }
  }, [run]);

  useEffect(() => {
    setData(undefined);
    void reload();
    return () => current.current?.abort();
  }, [reload]);

  return { data, error, loading, reload, set: setData };
}

/** Calls `tick` every `ms` while `active`; no timer otherwise. */
export function useInterval(tick: () => void, ms: number, active: boolean): void {
  const saved = useRef(tick);
  saved.current = tick;
  useEffect(() => {
    if (!active) return;
    const id = setInterval(() => saved.current(), ms);
    return () => clearInterval(id);
  }, [ms, active]);
}
