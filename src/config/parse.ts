import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { KairosError, ExitCode } from '../shared/errors.ts';
import { fileSchema, OWNED_TOP_LEVEL_KEYS, type ConfigFile } from './file-schema.ts';
import { unknownKeys } from './unknown-keys.ts';

export interface ParsedConfigFile {
  config: ConfigFile;
  warnings: string[];
}

function configError(message: string): KairosError {
  return new KairosError('CONFIG_INVALID', message, { exitCode: ExitCode.config });
}

/** Renders a value for an error line; a token value is never shown. */
function shown(path: PropertyKey[], input: unknown): string {
  if (path.some((part) => String(part).includes('token'))) return '';
  if (input === undefined) return '';
  const text = JSON.stringify(input);
  return text.length > 40 ? '' : `, got ${text}`;
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let value = root;
  for (const part of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}

function describeIssue(root: unknown, issue: z.core.$ZodIssue): string {
  const field = issue.path.map(String).join('.');
  return `${field}: ${issue.message}${shown(issue.path, valueAt(root, issue.path))}`;
}

/**
 * Pure: YAML text of a `#cloud-config` file to a validated ConfigFile. Invalid values fail
 * with one line naming the field; unknown keys in the blocks we own become warnings.
 */
export function parseConfigText(text: string, origin: string): ParsedConfigFile {
  let document: unknown;
  try {
    document = parseYaml(text) ?? {};
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? ` at line ${error.linePos[0].line}` : '';
    throw configError(`${origin}: not valid YAML${where}`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw configError(`${origin}: expected a YAML mapping at the top level`);
  }
  const owned = Object.fromEntries(
    Object.entries(document).filter(([key]) => OWNED_TOP_LEVEL_KEYS.includes(key)),
  );
  const result = fileSchema.safeParse(owned);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => describeIssue(owned, issue));
    throw configError(`${origin}: ${issues.join('; ')}`);
  }
  const warnings = unknownKeys(fileSchema, owned).map((path) => `${origin}: unknown key ${path} (ignored)`);
  return { config: result.data, warnings };
}
