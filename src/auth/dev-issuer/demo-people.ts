/** A person the development issuer knows; signs in as `username`, scripts as `demo-<username>`. */
export interface DemoPerson {
  readonly username: string;
  readonly name: string;
  readonly email: string;
  readonly groups: readonly string[];
}

/** The demo cast: on-call engineers, approvers, a security auditor and someone with no rights. */
export const DEMO_PEOPLE = [
  { username: 'alice', name: 'Alice Oncall', email: 'alice@example.test', groups: ['oncall'] },
  {
    username: 'bob',
    name: 'Bob Oncall-Approver',
    email: 'bob@example.test',
    groups: ['oncall', 'approvers'],
  },
  { username: 'dave', name: 'Dave Approver', email: 'dave@example.test', groups: ['approvers'] },
  { username: 'carol', name: 'Carol Security', email: 'carol@example.test', groups: ['security'] },
  { username: 'mallory', name: 'Mallory Nobody', email: 'mallory@example.test', groups: [] },
] as const satisfies readonly DemoPerson[];

export type DemoUsername = (typeof DEMO_PEOPLE)[number]['username'];

/** Secret of every `demo-<username>` client. */
export const DEMO_CLIENT_SECRET = 'demo';

export function demoClientId(username: string): string {
  return `demo-${username}`;
}

export function demoPersonByUsername(username: string | undefined): DemoPerson | undefined {
  return DEMO_PEOPLE.find((p) => p.username === username);
}

export function demoPersonByClientId(clientId: string | undefined): DemoPerson | undefined {
  return DEMO_PEOPLE.find((p) => demoClientId(p.username) === clientId);
}
