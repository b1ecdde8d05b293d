import { z } from 'zod';

/**
 * Paths of keys the schema does not know, so a typo such as `minimun_nodes` is reported
 * instead of silently ignored. Only objects the schema describes are walked.
 */
export function unknownKeys(schema: z.ZodType, value: unknown, path: string[] = []): string[] {
  const inner = unwrap(schema);
  if (!(inner instanceof z.ZodObject) || !isPlainObject(value)) return [];
  const shape = inner.shape as Record<string, z.ZodType>;
  const found: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const childSchema = shape[key];
    if (childSchema === undefined) found.push([...path, key].join('.'));
    else found.push(...unknownKeys(childSchema, child, [...path, key]));
  }
  return found;
}

function unwrap(schema: z.ZodType): z.ZodType {
  return schema instanceof z.ZodOptional ? unwrap(schema.unwrap() as z.ZodType) : schema;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
