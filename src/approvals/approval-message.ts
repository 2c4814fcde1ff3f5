import type { AppConfig } from '../config/config.types';
import type { ApprovalEventType } from './approval-state';

/**
 * A chat message in Slack's incoming-webhook shape (`text` for notifications and
 * clients without blocks, `blocks` for the layout); Mattermost and Rocket.Chat accept
 * the same `text`. https://api.slack.com/messaging/webhooks
 */
export interface ChatMessage {
  readonly text: string;
  readonly blocks: readonly Record<string, unknown>[];
}

/** What a chat message says about one approval step; never code or parameter values. */
export interface ChatMessageFacts {
  readonly type: ApprovalEventType;
  readonly approvalId: string;
  readonly runbook: string;
  readonly cell: string;
  readonly environment: string;
  readonly requester: string;
  readonly reason: string;
  readonly incident: string | null;
  readonly approvals?: number;
  readonly quorum: number;
  readonly actor?: string;
  readonly comment?: string;
  /** The approval's page in the web app. */
  readonly page: string;
}

/**
 * Where people open an approval: the web app's page for it. Decisions are made there
 * (or with `rungate approve`), never in chat, because a chat button cannot ask the
 * approver to sign in again (step-up).
 */
export function approvalPageUrl(config: AppConfig, approvalId: string): string {
  return `${webOrigin(config)}/approvals/${encodeURIComponent(approvalId)}`;
}

/** The origin people reach the gateway at: RUNGATE_PUBLIC_URL, else the listen address. */
export function webOrigin(config: AppConfig): string {
  if (config.web.publicUrl !== undefined) return config.web.publicUrl;
  const { host, port } = config.http;
  // A wildcard bind address is reached through loopback; an IPv6 literal needs brackets.
  const reachable = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

const HEADLINES: Record<ApprovalEventType, string> = {
  'approval.requested': 'Approval requested',
  'approval.granted': 'Approval granted',
  'approval.denied': 'Approval denied',
  'approval.expired': 'Approval expired',
  'approval.cancelled': 'Approval withdrawn',
  'approval.consumed': 'Approved change ran',
  'approval.breakglass': 'BREAK-GLASS: production changed without approvers',
  'approval.acknowledged': 'Break-glass run acknowledged',
};

/** The chat message for one step: what, where, who and why, and a link to decide. */
export function chatMessageOf(f: ChatMessageFacts): ChatMessage {
  const headline = HEADLINES[f.type];
  const what = `${f.runbook} → cell \`${f.cell}\` in ${f.environment}`;
  const progress =
    f.type === 'approval.granted' && f.approvals !== undefined
      ? ` (${f.approvals} of ${f.quorum})`
      : '';
  const by = f.actor !== undefined ? ` by ${f.actor}${progress}` : progress;
  const text = `${headline}${by}: ${what}, requested by ${f.requester}: "${f.reason}" — ${f.page}`;
  const fields = [
    field('Runbook', f.runbook),
    field('Cell', `\`${f.cell}\``),
    field('Environment', f.environment),
    field('Requested by', f.requester),
    field('Quorum', String(f.quorum)),
    ...(f.incident !== null ? [field('Incident', f.incident)] : []),
  ];
  const blocks: Record<string, unknown>[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `*${escape(headline)}*${escape(by)}` } },
    { type: 'section', fields },
    { type: 'section', text: { type: 'mrkdwn', text: `*Reason:* ${escape(f.reason)}` } },
  ];
  if (f.comment !== undefined && f.comment !== '') {
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `Comment: ${escape(f.comment)}` }],
    });
  }
  // A link, not an approve button: deciding needs a recent sign-in, which chat cannot ask for.
  blocks.push({
    type: 'actions',
    elements: [
      {
        type: 'button',
        text: { type: 'plain_text', text: 'Open in rungate' },
        url: f.page,
        action_id: 'open-approval',
      },
    ],
  });
  return { text, blocks };
}

function field(label: string, value: string): Record<string, unknown> {
  return { type: 'mrkdwn', text: `*${label}:*\n${escape(value)}` };
}

/** Slack's mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting#escaping). */
function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
