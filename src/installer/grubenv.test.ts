import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { run } from '../shared/exec.ts';
import { GRUBENV_HEADER, GRUBENV_SIZE, decodeGrubEnv, encodeGrubEnv } from './grubenv.ts';

const sample = {
  kairos_active_img: 'active.img',
  kairos_tries: '2',
  kairos_fallback_reason: 'active image was not marked good after ${kairos_max_tries} boots',
  odd: 'back\\slash = and spaces',
};

describe('grubenv codec', () => {
  it('writes a 1024-byte block with the GRUB header and # padding', () => {
    const block = encodeGrubEnv({ a: '1' });
    expect(block.length).toBe(GRUBENV_SIZE);
    expect(block.toString('utf8', 0, GRUBENV_HEADER.length + 4)).toBe(`${GRUBENV_HEADER}a=1\n`);
    expect(block.subarray(GRUBENV_HEADER.length + 4).every((byte) => byte === 0x23)).toBe(true);
  });

  it('round-trips any names and values that fit', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.stringMatching(/^[a-z_][a-z0-9_]{0,15}$/), fc.string({ maxLength: 40 }), {
          maxKeys: 8,
        }),
        (env) => {
          expect(decodeGrubEnv(encodeGrubEnv(env))).toEqual(env);
        },
      ),
    );
  });

  it('refuses a block that would overflow and a block without the header', () => {
    expect(() => encodeGrubEnv({ big: 'x'.repeat(1100) })).toThrow(/full/);
    expect(() => decodeGrubEnv(Buffer.alloc(1024, '#'))).toThrow(/not a GRUB environment block/);
    expect(() => encodeGrubEnv({ 'a=b': '1' })).toThrow(/invalid/);
  });
});

describe('grubenv compatibility with grub-editenv', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kmi-grubenv-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('grub-editenv lists what we wrote', async () => {
    const file = join(dir, 'ours');
    await writeFile(file, encodeGrubEnv(sample));
    const listed = (await run('grub-editenv', [file, 'list'])).stdout.split('\n');
    expect(listed).toEqual(Object.entries(sample).map(([name, value]) => `${name}=${value}`));
  });

  it('we read what grub-editenv wrote, including its escapes', async () => {
    const file = join(dir, 'theirs');
    await run('grub-editenv', [file, 'create']);
    await run('grub-editenv', [file, 'set', ...Object.entries(sample).map(([n, v]) => `${n}=${v}`)]);
    await run('grub-editenv', [file, 'set', 'newline=two\nlines']);
    const block = await readFile(file);
    expect(decodeGrubEnv(block)).toEqual({ ...sample, newline: 'two\nlines' });
    // grub-editenv adds a "# WARNING" comment line, which is skipped like padding.
    expect(block.toString('utf8')).toContain('\n# WARNING');
  });
});
