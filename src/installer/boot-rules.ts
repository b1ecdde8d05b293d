import type { GrubEnv } from './grubenv.ts';

/**
 * What GRUB decides at every boot, as data (pure). The GRUB script (grub-config.ts) and the
 * boot simulator (`simulateBoot`) are both rendered from these rules, so they cannot disagree.
 */
export const ENV = {
  activeImage: 'kairos_active_img',
  passiveImage: 'kairos_passive_img',
  upgrade: 'kairos_upgrade',
  tries: 'kairos_tries',
  maxTries: 'kairos_max_tries',
  defaultSlot: 'kairos_default',
  fallbackReason: 'kairos_fallback_reason',
  lastBoot: 'kairos_last_boot',
  markedGood: 'kairos_marked_good',
} as const;

export const BOOT_SLOTS = ['active', 'passive', 'recovery'] as const;
export type BootSlot = (typeof BOOT_SLOTS)[number];

/** Variables GRUB writes back with save_env after deciding. */
export const SAVED_BY_GRUB = [ENV.tries, ENV.defaultSlot, ENV.fallbackReason, ENV.lastBoot] as const;

export const DEFAULT_TRIES = 3;
export const MAX_TRIES = 9;

export interface Condition {
  name: string;
  equals: string;
}

export interface BootRule {
  /** All must hold; an empty list always holds (the final "else"). */
  when: Condition[];
  set: Record<string, string>;
  boot: BootSlot;
}

/** Recorded when assessment falls back; `${…}` is expanded at boot by GRUB and the simulator alike. */
export const FALLBACK_REASON = 'active image was not marked good after ${kairos_max_tries} boots';

/**
 * The rules, first match wins. An armed counter at 0 means N tentative boots never reached
 * `boot mark-good`: fall back to passive for good and say why. Otherwise an armed counter is
 * decremented and the active image gets one more try. Unarmed: the selected default.
 */
export function bootRules(): BootRule[] {
  const rules: BootRule[] = [
    {
      when: [{ name: ENV.tries, equals: '0' }],
      set: { [ENV.tries]: '', [ENV.defaultSlot]: 'passive', [ENV.fallbackReason]: FALLBACK_REASON },
      boot: 'passive',
    },
  ];
  for (let left = MAX_TRIES; left >= 1; left -= 1) {
    rules.push({
      when: [{ name: ENV.tries, equals: String(left) }],
      set: { [ENV.tries]: String(left - 1) },
      boot: 'active',
    });
  }
  rules.push(
    { when: [{ name: ENV.defaultSlot, equals: 'passive' }], set: {}, boot: 'passive' },
    { when: [{ name: ENV.defaultSlot, equals: 'recovery' }], set: {}, boot: 'recovery' },
    { when: [], set: {}, boot: 'active' },
  );
  return rules.map((rule) => ({ ...rule, set: { ...rule.set, [ENV.lastBoot]: rule.boot } }));
}

export interface BootOutcome {
  env: Record<string, string>;
  slot: BootSlot;
  /** Entries GRUB tries if the chosen one fails to load, in order. */
  fallbacks: BootSlot[];
}

/** One boot, exactly as the generated GRUB script does it. */
export function simulateBoot(env: GrubEnv): BootOutcome {
  const rule = bootRules().find((candidate) =>
    candidate.when.every((condition) => (env[condition.name] ?? '') === condition.equals),
  );
  if (rule === undefined) throw new Error('boot rules have no final rule');
  const set = Object.fromEntries(
    Object.entries(rule.set).map(([name, value]) => [name, expandVariables(value, env)]),
  );
  return { env: { ...env, ...set }, slot: rule.boot, fallbacks: fallbackOrder(rule.boot) };
}

/** GRUB's `${name}` expansion inside a double-quoted word (unset expands to nothing). */
export function expandVariables(value: string, env: GrubEnv): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_match, name: string) => env[name] ?? '');
}

export function fallbackOrder(slot: BootSlot): BootSlot[] {
  return BOOT_SLOTS.filter((other) => other !== slot);
}

export function parseTries(value: string | undefined): number | undefined {
  if (value === undefined || !/^[0-9]$/.test(value)) return undefined;
  return Number(value);
}

/** Boot assessment armed for a freshly switched-in active image. */
export function armAssessment(env: GrubEnv, tries: number): Record<string, string> {
  return {
    ...env,
    [ENV.tries]: String(tries),
    [ENV.maxTries]: String(tries),
    [ENV.defaultSlot]: 'active',
    [ENV.fallbackReason]: '',
    [ENV.markedGood]: '',
  };
}

/**
 * The node is healthy: disarm the counter. Clearing the counter in the same atomic write that
 * records the mark is what prevents the stale tentative flags Kairos suffers from.
 */
export function markGood(env: GrubEnv, at: Date): Record<string, string> {
  return { ...env, [ENV.tries]: '', [ENV.markedGood]: at.toISOString() };
}

/** An operator's explicit choice: persistent default, assessment disarmed. */
export function selectSlot(env: GrubEnv, slot: BootSlot): Record<string, string> {
  return { ...env, [ENV.defaultSlot]: slot, [ENV.tries]: '', [ENV.fallbackReason]: '' };
}

export interface AssessmentStatus {
  defaultSlot: BootSlot;
  armed: boolean;
  triesLeft: number | null;
  maxTries: number;
  lastBoot: string | null;
  fallbackReason: string | null;
  markedGood: string | null;
  nextBoot: BootSlot;
}

export function assessmentStatus(env: GrubEnv): AssessmentStatus {
  const tries = parseTries(env[ENV.tries]);
  const selected = env[ENV.defaultSlot];
  return {
    defaultSlot: BOOT_SLOTS.includes(selected as BootSlot) ? (selected as BootSlot) : 'active',
    armed: tries !== undefined,
    triesLeft: tries ?? null,
    maxTries: parseTries(env[ENV.maxTries]) ?? DEFAULT_TRIES,
    lastBoot: nonEmpty(env[ENV.lastBoot]),
    fallbackReason: nonEmpty(env[ENV.fallbackReason]),
    markedGood: nonEmpty(env[ENV.markedGood]),
    nextBoot: simulateBoot(env).slot,
  };
}

function nonEmpty(value: string | undefined): string | null {
  return value === undefined || value === '' ? null : value;
}
