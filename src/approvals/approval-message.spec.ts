import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load-config';
import {
  approvalPageUrl,
  chatMessageOf,
  webOrigin,
  type ChatMessageFacts,
} from './approval-message';

const facts = (over: Partial<ChatMessageFacts> = {}): ChatMessageFacts => ({
  type: 'approval.requested',
  approvalId: 'a-1',
  runbook: 'shop/stuck-jobs',
  cell: 'retry',
  environment: 'prod',
  requester: 'alice',
  reason: 'jobs <stuck> & late',
  incident: 'INC-1',
  quorum: 2,
  page: 'https://rungate.example.com/approvals/a-1',
  ...over,
});

describe('approvalPageUrl', () => {
  it('uses RUNGATE_PUBLIC_URL when set', () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      RUNGATE_PUBLIC_URL: 'https://rungate.example.com',
    });
    expect(approvalPageUrl(config, 'a-1')).toBe('https://rungate.example.com/approvals/a-1');
  });

  it('falls back to the listen address, through loopback for a wildcard host', () => {
    expect(webOrigin(loadConfig({ NODE_ENV: 'test', RUNGATE_PORT: '9000' }))).toBe(
      'http://127.0.0.1:9000',
    );
    expect(
      webOrigin(loadConfig({ NODE_ENV: 'test', RUNGATE_HOST: '::', RUNGATE_PORT: '9000' })),
    ).toBe('http://[::1]:9000');
  });
});

describe('chatMessageOf', () => {
  it('says what, where, who and why, with a link and no decision button', () => {
    const m = chatMessageOf(facts());
    expect(m.text).toBe(
      'Approval requested: shop/stuck-jobs → cell `retry` in prod, requested by alice: "jobs <stuck> & late" — https://rungate.example.com/approvals/a-1',
    );
    const actions = m.blocks.filter((b) => b.type === 'actions');
    expect(actions).toEqual([
      {
        type: 'actions',
        elements: [
          {
            type: 'button',
            text: { type: 'plain_text', text: 'Open in rungate' },
            url: 'https://rungate.example.com/approvals/a-1',
            action_id: 'open-approval',
          },
        ],
      },
    ]);
  });

  it("escapes Slack's control characters in people's text", () => {
    const reason = chatMessageOf(facts()).blocks.find((b) => JSON.stringify(b).includes('Reason'));
    expect(JSON.stringify(reason)).toContain('jobs &lt;stuck&gt; &amp; late');
  });

  it('counts grants toward the quorum and names the approver', () => {
    const m = chatMessageOf(facts({ type: 'approval.granted', approvals: 1, actor: 'bob' }));
    expect(m.text).toMatch(/^Approval granted by bob \(1 of 2\):/);
  });
});
