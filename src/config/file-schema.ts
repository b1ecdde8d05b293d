import { z } from 'zod';

/**
 * The cloud-config blocks we read. `p2p:` (and the older `kairos:` / `c3os:`), `k3s:` and
 * `k3s-agent:` are Kairos' own, kept field for field so existing configs work unchanged;
 * `kairos_mesh:` holds settings Kairos has no name for. Every object is strict about types
 * and lenient about unknown keys (they become warnings, see unknown-keys.ts).
 */
const positiveInt = z
  .number({ error: 'expected a whole number' })
  .int('expected a whole number')
  .positive('expected a number above 0');
const port = z
  .number({ error: 'expected a port number' })
  .int()
  .min(1, 'expected a port 1-65535')
  .max(65535, 'expected a port 1-65535');
const stringList = z.array(z.string({ error: 'expected a string' }), { error: 'expected a list of strings' });
const stringMap = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String), {
  error: 'expected a map of names to strings',
});
const duration = z.union(
  [
    z.number().positive('expected a positive number of seconds'),
    z.string().regex(/^\d+(\.\d+)?(ms|s|m|h)$/, 'expected a duration like 15s, 500ms or 2m'),
  ],
  {
    error: 'expected a duration like 15s',
  },
);

export const ROLE_MODES = ['auto', 'master', 'worker', 'none'] as const;
/** Kairos writes an empty string for "auto". */
const kairosRole = z.enum(['', ...ROLE_MODES], { error: `expected one of: ${ROLE_MODES.join(', ')}` });

const cidr = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/, 'expected an IPv4 CIDR like 100.64.0.0/10');

export const p2pSchema = z.object({
  network_token: z.string({ error: 'expected the token as a string' }).optional(),
  network_id: z.string().min(1, 'expected a non-empty string').optional(),
  role: kairosRole.optional(),
  minimum_nodes: positiveInt.optional(),
  disable_dht: z.boolean({ error: 'expected true or false' }).optional(),
  dns: z.boolean({ error: 'expected true or false' }).optional(),
  vpn: z
    .object({
      create: z.boolean({ error: 'expected true or false' }).optional(),
      use: z.boolean({ error: 'expected true or false' }).optional(),
      env: stringMap.optional(),
    })
    .optional(),
  auto: z
    .object({
      enable: z.boolean({ error: 'expected true or false' }).optional(),
      ha: z
        .object({
          enable: z.boolean({ error: 'expected true or false' }).optional(),
          master_nodes: z.number().int('expected a whole number').min(0, 'expected 0 or more').optional(),
          external_db: z.string().optional(),
        })
        .optional(),
    })
    .optional(),
});

export const legacyKairosSchema = z.object({
  network_token: z.string().optional(),
  network_id: z.string().min(1).optional(),
  role: kairosRole.optional(),
});

export const k3sSchema = z.object({
  enabled: z.boolean({ error: 'expected true or false' }).optional(),
  args: stringList.optional(),
  env: stringMap.optional(),
  replace_args: z.boolean({ error: 'expected true or false' }).optional(),
  replace_env: z.boolean({ error: 'expected true or false' }).optional(),
});

export const meshSchema = z.object({
  name: z.string().min(1, 'expected a non-empty name').max(63, 'expected at most 63 characters').optional(),
  data_dir: z.string().min(1).optional(),
  listen: stringList.optional(),
  bootstrap: stringList.optional(),
  mdns: z.boolean({ error: 'expected true or false' }).optional(),
  dht: z.enum(['private', 'public', 'off'], { error: 'expected one of: private, public, off' }).optional(),
  relay_server: z.boolean({ error: 'expected true or false' }).optional(),
  log_level: z
    .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], {
      error: 'expected one of: trace, debug, info, warn, error, fatal, silent',
    })
    .optional(),
  presence: z.object({ heartbeat_interval: duration.optional(), ttl: duration.optional() }).optional(),
  vpn: z
    .object({
      cidr: cidr.optional(),
      iface: z
        .string()
        .regex(/^[a-zA-Z0-9_.-]{1,15}$/, 'expected an interface name of 1-15 letters, digits, _ . -')
        .optional(),
      backend: z
        .enum(['auto', 'kernel', 'userspace'], { error: 'expected one of: auto, kernel, userspace' })
        .optional(),
      endpoints: stringList.optional(),
      listen_port: port.optional(),
      mtu: z
        .number()
        .int()
        .min(1280, 'expected an MTU of at least 1280')
        .max(9000, 'expected an MTU of at most 9000')
        .optional(),
      keep: z.boolean({ error: 'expected true or false' }).optional(),
      peer_grace: duration.optional(),
    })
    .optional(),
  roles: z
    .object({
      masters: positiveInt.optional(),
      master_grace: duration.optional(),
    })
    .optional(),
  k3s: z
    .object({
      service: z
        .enum(['auto', 'systemd', 'openrc', 'exec'], {
          error: 'expected one of: auto, systemd, openrc, exec',
        })
        .optional(),
      bin: z.string().min(1).optional(),
      root: z.string().min(1).optional(),
    })
    .optional(),
  hooks: z.object({ cluster_ready: z.string().min(1).optional() }).optional(),
  boot: z.object({ tries: positiveInt.max(10, 'expected at most 10').optional() }).optional(),
});

export const fileSchema = z.object({
  p2p: p2pSchema.optional(),
  kairos: legacyKairosSchema.optional(),
  c3os: legacyKairosSchema.optional(),
  k3s: k3sSchema.optional(),
  'k3s-agent': k3sSchema.optional(),
  kairos_mesh: meshSchema.optional(),
});

export type ConfigFile = z.infer<typeof fileSchema>;
/** Top-level keys we validate; any other top-level key belongs to the rest of Kairos. */
export const OWNED_TOP_LEVEL_KEYS = Object.keys(fileSchema.shape);
