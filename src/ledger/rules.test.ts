import { describe, expect, it } from 'vitest';
import { checkNames, checkWrite, ruleFor, SYSTEM_BUCKETS } from './rules.ts';

const me = '12D3KooWGQ8aNLUN8NnMBghDPpanXhbyXuMEhyuRD7rdkL5Rpge3';
const other = '12D3KooWF82qTomJWkk4Cb2GBteY2AkALVJMLWT2vzq6AN4Zcqom';

describe('write rules', () => {
  it('lets a node write only its own key in nodes, vpn, votes and k3s-join', () => {
    for (const bucket of ['nodes', 'vpn', 'votes', 'k3s-join']) {
      expect(ruleFor(bucket)).toBe('own-key');
      expect(checkWrite(me, bucket, me)).toBeUndefined();
      expect(checkWrite(me, bucket, other)).toBe(`bucket ${bucket}: key must be this node's peer id`);
    }
  });

  it('lets any member write roles-override, and operators any other bucket', () => {
    expect(checkWrite(me, 'roles-override', other)).toBeUndefined();
    expect(checkWrite(me, 'apps', 'anything')).toBeUndefined();
    expect(ruleFor('apps')).toBe('operator');
    expect(Object.keys(SYSTEM_BUCKETS).sort()).toEqual([
      'k3s-join',
      'nodes',
      'roles-override',
      'votes',
      'vpn',
    ]);
  });

  it('reserves buckets starting with _', () => {
    expect(checkWrite(me, '_meta', 'x')).toBe('bucket _meta: names starting with _ are reserved');
  });

  it('limits bucket and key names', () => {
    expect(checkNames('apps.v1-x_y', 'a/b:c@d+e=f.g_h-i')).toBeUndefined();
    for (const bucket of ['', '-x', '.x', 'a b', 'a/b', 'é', 'x'.repeat(65)])
      expect(checkNames(bucket, 'k'), bucket).toMatch(/^bucket /);
    for (const key of ['', 'a b', 'a\u0000b', 'ключ', 'x'.repeat(257)])
      expect(checkNames('b', key), key).toMatch(/^key /);
    expect(checkNames('x'.repeat(64), 'k'.repeat(256))).toBeUndefined();
  });
});
