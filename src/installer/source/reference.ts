import { ExitCode, KairosError } from '../../shared/errors.ts';

/** Where an OS image comes from (pure parsing of the `--source` argument). */
export type SourceRef =
  | { kind: 'registry'; host: string; repository: string; reference: string; text: string }
  | { kind: 'archive'; path: string; text: string }
  | { kind: 'dir'; path: string; text: string };

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

function usage(text: string, why: string): KairosError {
  return new KairosError('SOURCE_INVALID', `invalid source "${text}": ${why}`, { exitCode: ExitCode.usage });
}

export function parseSource(text: string): SourceRef {
  if (text.startsWith('oci-archive:')) {
    const path = text.slice('oci-archive:'.length);
    if (path === '') throw usage(text, 'no archive path');
    return { kind: 'archive', path, text };
  }
  if (text.startsWith('dir:')) {
    const path = text.slice('dir:'.length);
    if (path === '') throw usage(text, 'no directory');
    return { kind: 'dir', path, text };
  }
  const registry = /^(?:oci|docker):\/\/(.+)$/.exec(text);
  if (registry === null) throw usage(text, 'expected oci://HOST/REPO:TAG, oci-archive:PATH or dir:PATH');
  const rest = registry[1]!;
  const slash = rest.indexOf('/');
  if (slash <= 0) throw usage(text, 'no registry host');
  const host = rest.slice(0, slash);
  if (!/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?$/.test(host))
    throw usage(text, 'bad registry host');
  let path = rest.slice(slash + 1);
  let reference = 'latest';
  const at = path.indexOf('@');
  if (at !== -1) {
    reference = path.slice(at + 1);
    path = path.slice(0, at);
    if (!DIGEST.test(reference)) throw usage(text, 'digest must be sha256:<64 hex>');
  } else {
    const colon = path.lastIndexOf(':');
    if (colon !== -1) {
      reference = path.slice(colon + 1);
      path = path.slice(0, colon);
      if (!TAG.test(reference)) throw usage(text, 'bad tag');
    }
  }
  if (!REPOSITORY.test(path)) throw usage(text, 'bad repository name');
  return { kind: 'registry', host, repository: path, reference, text };
}

/** Plain HTTP is allowed only to loopback registries or ones named with --insecure-registry. */
export function isLoopbackHost(host: string): boolean {
  const name = host.replace(/:[0-9]+$/, '').replace(/^\[|\]$/g, '');
  return name === 'localhost' || name === '::1' || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(name);
}
