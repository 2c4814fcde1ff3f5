import { describe, expect, it } from 'vitest';
import { classifyCommand } from './shell';

describe('classifyCommand', () => {
  it.each([
    [['kubectl', 'get', 'pods', '-n', 'shop'], 'read', 'kubectl get'],
    [['kubectl', '-n', 'shop', 'logs', 'checkout-1'], 'read', 'kubectl logs'],
    [['kubectl', '--context', 'prod', 'delete', 'pod', 'x'], 'write', 'kubectl delete'],
    [['kubectl', 'rollout', 'status', 'deploy/x'], 'read', 'kubectl rollout status'],
    [['kubectl', 'rollout', 'restart', 'deploy/x'], 'write', 'kubectl rollout restart'],
    [
      ['sudo', '-u', 'ops', 'kubectl', 'scale', 'deploy/x', '--replicas=0'],
      'write',
      'kubectl scale',
    ],
    [['helm', 'status', 'shop'], 'read', 'helm status'],
    [['helm', 'rollback', 'shop', '3'], 'write', 'helm rollback'],
    [['curl', '-s', 'https://x/health'], 'read', 'curl GET'],
    [['curl', '-X', 'POST', 'https://x/flush'], 'write', 'curl POST'],
    [['curl', '-d', 'a=1', 'https://x/'], 'write', 'curl POST'],
    [['grep', '-c', 'ERROR', 'app.log'], 'read', 'grep'],
    [['sed', '-i', 's/a/b/', 'f'], 'write', 'sed -i'],
    [['rm', '-rf', '/tmp/x'], 'write', 'rm'],
    [['systemctl', 'restart', 'nginx'], 'write', 'systemctl'],
  ])('%j is %s (%s)', (argv, effect, what) => {
    expect(classifyCommand(argv)).toMatchObject({ effect, what });
  });

  it('hands the SQL of psql -c to the SQL classifier', () => {
    expect(classifyCommand(['psql', '-c', 'DELETE FROM jobs'])).toMatchObject({
      sql: 'DELETE FROM jobs',
    });
  });
});
