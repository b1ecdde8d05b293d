import { describe, expect, it } from 'vitest';
import { answerPull, parseAnswer, parseRequest, pullRequest } from './datagram-pull.ts';
import type { StoredEntry } from './store.ts';
import { SyncProtocolError } from './sync-protocol.ts';
import type { VersionVector } from './vector.ts';

/** A feed of `count` entries by `author`, each `size` bytes of JSON. */
function feed(author: string, count: number, size = 100): StoredEntry[] {
  return Array.from({ length: count }, (_, i) => {
    const prefix = `{"author":"${author}","seq":${i + 1},"pad":"`;
    return { author, seq: i + 1, encoded: `${prefix}${'x'.repeat(Math.max(0, size - prefix.length - 2))}"}` };
  });
}

function server(feeds: StoredEntry[][]) {
  const vector: VersionVector = {};
  for (const entries of feeds)
    vector[entries[0]!.author] = { seq: entries.length, hash: `h${entries.length}` };
  return {
    vector: () => vector,
    readRange: (author: string, from: number, to: number, limit: number) =>
      Promise.resolve(
        feeds
          .flat()
          .filter((entry) => entry.author === author && entry.seq >= from && entry.seq <= to)
          .slice(0, limit),
      ),
  };
}

describe('datagram pull', () => {
  it('carries the vector and own entries, within their byte budget', () => {
    const request = parseRequest(pullRequest({ a: { seq: 2, hash: 'h' } }, feed('a', 2)));
    expect(request.theirs).toEqual({ a: { seq: 2, hash: 'h' } });
    expect(request.own).toHaveLength(2);
    expect(parseRequest(pullRequest({}, feed('a', 400, 1000))).own.length).toBeLessThan(20);
  });

  it('refuses malformed requests and answers', () => {
    expect(() => parseRequest(Buffer.from('nope'))).toThrow(SyncProtocolError);
    expect(() => parseRequest(Buffer.from('{"v":{"a":{"seq":-1,"hash":"h"}}}'))).toThrow(SyncProtocolError);
    expect(() => parseRequest(Buffer.from('{"v":{},"own":{}}'))).toThrow(SyncProtocolError);
    expect(() => parseAnswer(Buffer.from('{"v":{},"e":[]}'))).toThrow(SyncProtocolError);
  });

  it('answers with what the asker lacks, and says when it is all', async () => {
    const answer = parseAnswer(
      await answerPull({ a: { seq: 1, hash: 'h1' } }, server([feed('a', 3), feed('b', 2)])),
    );
    expect(answer.more).toBe(false);
    expect(answer.vector).toEqual({ a: { seq: 3, hash: 'h3' }, b: { seq: 2, hash: 'h2' } });
    expect(answer.entries.map((entry) => (entry as { seq: number }).seq)).toEqual([2, 3, 1, 2]);
  });

  it('cuts an answer that would not fit one datagram, and says so', async () => {
    const big = parseAnswer(await answerPull({}, server([feed('a', 100, 1000)])));
    expect(big.more).toBe(true);
    expect(big.entries.length).toBeGreaterThan(0);
    expect(big.entries.length).toBeLessThan(100);
    const many = parseAnswer(await answerPull({}, server([feed('a', 100, 50)])));
    expect(many.more).toBe(true);
    expect(many.entries).toHaveLength(64);
  });

  it('says more when the store lacks entries its vector names', async () => {
    const gappy = server([feed('a', 3)]);
    const answer = parseAnswer(
      await answerPull({}, { ...gappy, readRange: () => Promise.resolve(feed('a', 1)) }),
    );
    expect(answer.more).toBe(true);
  });
});
