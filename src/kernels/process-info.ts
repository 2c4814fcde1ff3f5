/**
 * What /proc tells about a process. A pid alone can be reused by an unrelated
 * process; the start time (field 22 of /proc/<pid>/stat, in clock ticks since
 * boot) tells the two apart.
 */
import { readFileSync } from 'node:fs';

/** Fields of /proc/<pid>/stat we use. */
export interface ProcStat {
  /** R, S, D, Z, T ... */
  readonly state: string;
  readonly ppid: number;
  readonly pgid: number;
  /** Opaque: compare for equality only. */
  readonly startTime: string;
}

/** Parses /proc/<pid>/stat text; the command name may contain spaces and parentheses. */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // Fields after "pid (comm)": index 0 is field 3 (state), so field N is at N - 3.
  const fields = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  if (fields.length < 20) return undefined;
  return {
    state: fields[0],
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    startTime: fields[19],
  };
}

export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** True while the process exists and is not a zombie waiting to be reaped. */
export function isProcessRunning(pid: number): boolean {
  const stat = readProcStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}
