/**
 * Who may write where. Enforced on local writes (refused with one clear line) and on every
 * received entry (dropped and counted), so every node applies the same rules.
 */
export type BucketRule =
  /** The key must be the author's own peer id: each node writes only its own record. */
  | 'own-key'
  /** Any member may write any key (the owning module checks the value's shape). */
  | 'any-member'
  /** Reserved for future system use: nobody may write. */
  | 'reserved'
  /** Operator data: free. */
  | 'operator';

/** System buckets and their rules; every other bucket is an operator bucket. */
export const SYSTEM_BUCKETS: Readonly<Record<string, BucketRule>> = {
  nodes: 'own-key',
  vpn: 'own-key',
  votes: 'own-key',
  'k3s-join': 'own-key',
  'roles-override': 'any-member',
};

export const MAX_VALUE_BYTES = 64 * 1024;
export const MAX_BUCKET_LENGTH = 64;
export const MAX_KEY_LENGTH = 256;
const BUCKET_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const KEY_PATTERN = /^[A-Za-z0-9._:@/+=-]+$/;

export function ruleFor(bucket: string): BucketRule {
  if (Object.hasOwn(SYSTEM_BUCKETS, bucket)) return SYSTEM_BUCKETS[bucket] as BucketRule;
  if (bucket.startsWith('_')) return 'reserved';
  return 'operator';
}

/** Names every entry must have, whatever the bucket; a message, or undefined when fine. */
export function checkNames(bucket: string, key: string): string | undefined {
  if (bucket.length === 0 || bucket.length > MAX_BUCKET_LENGTH || !BUCKET_PATTERN.test(bucket))
    return `bucket "${printable(bucket)}": 1-${MAX_BUCKET_LENGTH} characters of A-Z a-z 0-9 . _ -, not starting with . or -`;
  if (key.length === 0 || key.length > MAX_KEY_LENGTH || !KEY_PATTERN.test(key))
    return `key "${printable(key)}": 1-${MAX_KEY_LENGTH} characters of A-Z a-z 0-9 . _ - : @ / + =`;
  return undefined;
}

/** Whether `author` may write `bucket`/`key`; a one-line reason when not. */
export function checkWrite(author: string, bucket: string, key: string): string | undefined {
  const names = checkNames(bucket, key);
  if (names !== undefined) return names;
  switch (ruleFor(bucket)) {
    case 'own-key':
      return key === author ? undefined : `bucket ${bucket}: key must be this node's peer id`;
    case 'reserved':
      return `bucket ${bucket}: names starting with _ are reserved`;
    case 'any-member':
    case 'operator':
      return undefined;
  }
}

function printable(text: string): string {
  const cut = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  return cut.replace(/[^\x20-\x7e\u2026]/g, '?');
}
