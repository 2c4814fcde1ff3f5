import { describe, expect, it } from 'vitest';
import { htmlReport, REPORT_CSP } from './html-report';
import { fixtureRecord } from './run-record.fixtures';

describe('htmlReport', () => {
  const html = htmlReport(fixtureRecord());

  it('holds no script and no handler, whatever the kernel printed', () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\sonerror\s*=/i);
    expect(html).not.toMatch(/javascript:/i);
    // The sanitized table survives; the SVG is an image, base64, so its script is data.
    expect(html).toContain('<table><tr><td>1</td></tr></table>');
    expect(html).toContain('src="data:image/svg+xml;base64,');
  });

  it('forbids every fetch but inline images and styles', () => {
    expect(html).toContain(`content="${REPORT_CSP.replace(/'/g, '&#39;')}"`);
    expect(REPORT_CSP).toContain("default-src 'none'");
    expect(html).not.toMatch(/\s(?:src|href)="(?:https?:)?\/\//i);
  });

  it('says who, why, the incident, the runbook version and the chain verdict', () => {
    expect(html).toContain('alice');
    expect(html).toContain('orders stuck &lt;since&gt; 9:00');
    expect(html).toContain('INC-42');
    expect(html).toContain("The session's audit chain verifies");
    expect(html).toContain(fixtureRecord().verification.head.hash);
  });

  it('shows each execution with its approval, the error and the interrupt', () => {
    expect(html).toMatch(/Approved — approved by bob: “go &lt;ahead&gt;”/);
    expect(html).toContain('ZeroDivisionError');
    expect(html).not.toContain('\u001b[');
    expect(html).toContain('<span class="status">interrupted</span>');
    expect(html).toContain('<span class="badge mutating">mutating</span>');
  });

  it('lists the credentials with when each was revoked, and a timeline', () => {
    expect(html).toMatch(/<td>orders-db<\/td><td>read<\/td>.*rg_s_1/);
    expect(html).not.toContain('not revoked');
    expect(html).toContain('approval granted for cell fix: go &lt;ahead&gt;');
  });
});
