import { createHash } from 'node:crypto';
import type { FeedHead } from './feed-check.ts';

/** author -> head seq and head hash: what a node holds. */
export type VersionVector = Record<string, { seq: number; hash: string }>;

/** A range of one author's feed to fetch: seqs `from`..`to` inclusive. */
export interface WantRange {
  author: string;
  from: number;
  to: number;
}

export function vectorOf(heads: ReadonlyMap<string, FeedHead>): VersionVector {
  const vector: VersionVector = {};
  for (const author of [...heads.keys()].sort()) {
    const head = heads.get(author)!;
    vector[author] = { seq: head.seq, hash: head.hash };
  }
  return vector;
}

/** 32 hex characters that differ whenever two vectors differ (sha256 of the sorted heads). */
export function vectorDigest(vector: VersionVector): string {
  const hash = createHash('sha256');
  for (const author of Object.keys(vector).sort()) {
    const head = vector[author]!;
    hash.update(`${author}:${head.seq}:${head.hash}\n`);
  }
  return hash.digest('hex').slice(0, 32);
}

/** What `mine` lacks from `theirs`: for each author they are ahead on, the seqs after my head. */
export function missingRanges(mine: VersionVector, theirs: VersionVector): WantRange[] {
  const wants: WantRange[] = [];
  for (const author of Object.keys(theirs).sort()) {
    const their = theirs[author]!;
    const have = mine[author]?.seq ?? 0;
    if (their.seq > have) wants.push({ author, from: have + 1, to: their.seq });
  }
  return wants;
}
