import { ExitCode, KairosError } from '../shared/errors.ts';

/**
 * GRUB's environment block (grub-core/lib/envblk.c): exactly 1024 bytes, a fixed header line,
 * `name=value` lines with `\` escaping backslash and newline, padded with `#`. Read and written
 * here without GRUB so the installer works on hosts that have no GRUB tools.
 */
export const GRUBENV_SIZE = 1024;
export const GRUBENV_HEADER = '# GRUB Environment Block\n';

export type GrubEnv = Readonly<Record<string, string>>;

function escape(text: string): string {
  return text.replace(/[\\\n]/g, (char) => `\\${char}`);
}

export function encodeGrubEnv(env: GrubEnv): Buffer {
  let body = GRUBENV_HEADER;
  for (const [name, value] of Object.entries(env)) {
    if (name === '' || /[=\n\\]/.test(name) || name.startsWith('#')) {
      throw new KairosError('GRUBENV_INVALID', `invalid GRUB environment variable name "${name}"`, {
        exitCode: ExitCode.dataErr,
      });
    }
    body += `${name}=${escape(value)}\n`;
  }
  const bytes = Buffer.from(body, 'utf8');
  if (bytes.length > GRUBENV_SIZE) {
    throw new KairosError('GRUBENV_FULL', `GRUB environment block is full (${bytes.length} > 1024 bytes)`, {
      exitCode: ExitCode.dataErr,
    });
  }
  const block = Buffer.alloc(GRUBENV_SIZE, '#');
  bytes.copy(block);
  return block;
}

export function decodeGrubEnv(block: Uint8Array): Record<string, string> {
  const text = Buffer.from(block).toString('utf8');
  if (block.length !== GRUBENV_SIZE || !text.startsWith(GRUBENV_HEADER)) {
    throw new KairosError('GRUBENV_INVALID', 'not a GRUB environment block (bad size or header)', {
      exitCode: ExitCode.dataErr,
    });
  }
  const env: Record<string, string> = {};
  let index = GRUBENV_HEADER.length;
  while (index < text.length) {
    if (text[index] === '#') {
      // Padding (or a comment line): skip to the next line.
      const end = text.indexOf('\n', index);
      if (end === -1) break;
      index = end + 1;
      continue;
    }
    let line = '';
    while (index < text.length && text[index] !== '\n') {
      if (text[index] === '\\' && index + 1 < text.length) index += 1;
      line += text[index];
      index += 1;
    }
    index += 1;
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}
