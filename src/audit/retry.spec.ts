import { describe, expect, it } from 'vitest';
import { InfrastructureError } from '../common/errors';
import { backoffDelay, classifyError, retry } from './retry';

const policy = { initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0.5 };

describe('backoffDelay', () => {
  it('grows exponentially and stops at the cap', () => {
    const noJitter = { ...policy, jitter: 0 };
    expect([1, 2, 3, 4, 5, 10].map((a) => backoffDelay(a, noJitter))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });

  it('randomizes the jittered fraction of each delay within its bounds', () => {
    expect(backoffDelay(3, policy, () => 0)).toBe(200);
    expect(backoffDelay(3, policy, () => 1)).toBe(400);
  });
});

describe('classifyError', () => {
  it('trusts the retriable flag of infrastructure and KafkaJS errors', () => {
    expect(classifyError(new InfrastructureError('db down', true))).toBe('retriable');
    expect(classifyError(new InfrastructureError('bad url', false))).toBe('permanent');
    expect(
      classifyError(
        Object.assign(new Error('x'), { name: 'KafkaJSProtocolError', retriable: false }),
      ),
    ).toBe('permanent');
  });

  it('treats network errno codes as transient and programmer errors as permanent', () => {
    expect(classifyError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe(
      'retriable',
    );
    expect(classifyError(new TypeError('undefined is not a function'))).toBe('permanent');
  });
});

describe('retry', () => {
  it('retries transient failures and bails out on a permanent one', async () => {
    const delays: number[] = [];
    let calls = 0;
    const result = await retry(
      async () => {
        calls++;
        if (calls < 3) throw new InfrastructureError('flaky', true);
        return 'done';
      },
      {
        maxAttempts: 5,
        policy: { ...policy, jitter: 0 },
        sleep: async (ms) => void delays.push(ms),
      },
    );
    expect(result).toBe('done');
    expect(delays).toEqual([100, 200]);

    let permanentCalls = 0;
    await expect(
      retry(
        async () => {
          permanentCalls++;
          throw new TypeError('bug');
        },
        { maxAttempts: 5, sleep: async () => undefined },
      ),
    ).rejects.toThrow('bug');
    expect(permanentCalls).toBe(1);
  });

  it('gives up after maxAttempts with the last error', async () => {
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          throw new InfrastructureError(`attempt ${calls}`, true);
        },
        { maxAttempts: 3, sleep: async () => undefined },
      ),
    ).rejects.toThrow('attempt 3');
  });
});
