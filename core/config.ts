/**
 * agent.config.json: validated once at load, defaults applied, relative paths
 * resolved against the config file's folder, the result frozen. Errors name
 * the field and the value (secret values are never echoed).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { destinationSchema, type DestinationConfig } from './destination-config.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const ms = (min: number) => z.number().int().min(min);

const keySchema = z
  .strictObject({
    id: z.string().regex(NAME, 'a key id is letters, digits, ".", "_" or "-"'),
    file: z.string().min(1).optional(),
    env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'not an environment variable name').optional(),
  })
  .refine((k) => (k.file === undefined) !== (k.env === undefined), { message: 'give exactly one of "file" or "env"' });

const policySchema = z.union([z.literal('all'), z.strictObject({ quorum: z.number().int().min(1) })]);

const databaseSchema = z.strictObject({
  path: z.string().min(1),
  name: z.string().regex(NAME, 'a database name is letters, digits, ".", "_" or "-"').optional(),
  destinations: z.array(destinationSchema).min(1, 'list at least one destination'),
  replicationPolicy: policySchema.default('all'),
});

const configSchema = z.strictObject({
  databases: z.array(databaseSchema).min(1, 'list at least one database'),
  encryption: z.strictObject({
    activeKey: z.string().min(1),
    keys: z.array(keySchema).min(1),
  }),
  syncIntervalMs: ms(10).default(1000),
  /** A segment ships once this much committed WAL waits, before the interval ends; 0 (default) = only by interval. */
  syncWalBytes: z.number().int().refine((n) => n === 0 || n >= 64 << 10, 'use 0 (off) or at least 65536').default(0),
  snapshotIntervalMs: ms(1000).default(6 * 3600 * 1000),
  pollIntervalMs: ms(10).default(250),
  stagingDir: z.string().min(1).default('./.walcast'),
  compression: z.enum(['lz4', 'none']).default('lz4'),
  checkpoint: z
    .strictObject({
      minPages: z.number().int().min(1).default(1000),
      truncatePages: z.number().int().min(1).default(128_000),
      maxBlockMs: ms(1).default(200),
    })
    .prefault({}),
  staging: z.strictObject({ maxBytes: z.number().int().min(1 << 20).default(1 << 30) }).prefault({}),
  sqliteWorkers: z.number().int().min(1).max(64).default(1),
  /** Nice value of the agent's threads (0-19): on a busy CPU the application runs first; 0 (default) leaves them as started. */
  cpuNice: z.number().int().min(0, 'use 0 (no change) to 19').max(19, 'use 0 (no change) to 19').default(0),
  /** Prometheus metrics and health over HTTP; off unless `listen` is set. */
  metrics: z
    .strictObject({
      listen: z
        .string()
        .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'use host:port, e.g. 127.0.0.1:9465')
        .optional(),
    })
    .prefault({}),
  /** Recovery point objective: the most data (seconds) one may lose. */
  rpoTargetSeconds: z.number().positive().default(60),
  health: z
    .strictObject({
      maxLagSeconds: z.number().positive().default(60),
      /** Default: twice snapshotIntervalMs. */
      maxSnapshotAgeSeconds: z.number().positive().optional(),
      stagingWarnRatio: z.number().gt(0).max(1).default(0.8),
    })
    .prefault({}),
  notifications: z
    .strictObject({
      webhooks: z.array(z.strictObject({ url: z.url({ protocol: /^https?$/ }), events: z.array(z.string()).optional() })).default([]),
      timeoutMs: ms(100).default(5000),
    })
    .prefault({}),
  /** Periodic restore drills: restore the newest point into a temp folder and prove it. 0 = off. */
  drills: z.strictObject({ intervalMs: z.number().int().min(0).default(0), destination: z.string().optional() }).prefault({}),
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).prefault({}),
});

type RawConfig = z.infer<typeof configSchema>;

/** One database to replicate, with defaults applied and paths absolute. */
export interface DatabaseConfig {
  path: string;
  name: string;
  destinations: DestinationConfig[];
  replicationPolicy: 'all' | { quorum: number };
}

/** The whole validated configuration. */
export interface AgentConfig extends Omit<RawConfig, 'databases'> {
  databases: DatabaseConfig[];
  /** Absolute path of the config file. */
  file: string;
}

const SECRET_FIELD = /secret|password|connectionString|accountKey|sasToken|sessionToken|^key$|^url$/i;

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const path = issue.path.map(String);
  const field = path.length ? path.join('.') : '(top level)';
  let value: unknown = input;
  for (const p of issue.path) value = value === null || typeof value !== 'object' ? undefined : (value as Record<PropertyKey, unknown>)[p as PropertyKey];
  const last = path[path.length - 1] ?? '';
  const shown = value === undefined ? '' : SECRET_FIELD.test(last) ? ' (value hidden)' : ` (got ${JSON.stringify(value)?.slice(0, 80)})`;
  if (issue.code === 'unrecognized_keys') return `${field}: unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return `${field}: ${issue.message}${shown}`;
}

/** Validates a parsed config object; `file` is where it came from (for paths and messages). */
export function parseConfig(input: unknown, file: string): Readonly<AgentConfig> {
  const r = configSchema.safeParse(input);
  if (!r.success) {
    const lines = r.error.issues.slice(0, 10).map((i) => `  ${describeIssue(i, input)}`);
    throw new ConfigError(`invalid config ${file}:\n${lines.join('\n')}`, {
      hint: 'see "Configuration" in README.md for every field and its default',
      context: { file },
    });
  }
  const base = dirname(resolve(file));
  const abs = (p: string) => resolve(base, p);
  const c = r.data;
  const names = new Set<string>();
  const databases = c.databases.map((d, i): DatabaseConfig => {
    const path = abs(d.path);
    const name = d.name ?? defaultName(path);
    if (!NAME.test(name)) throw new ConfigError(`databases.${i}.name: cannot derive a valid name from ${d.path}; set "name"`);
    if (names.has(name)) throw new ConfigError(`databases.${i}.name: "${name}" is used by two databases; names must be unique`, { hint: 'set "name" on one of them' });
    names.add(name);
    const destNames = new Set<string>();
    d.destinations.forEach((dest, j) => {
      if (destNames.has(dest.name)) throw new ConfigError(`databases.${i}.destinations.${j}.name: "${dest.name}" is used twice in this database`);
      destNames.add(dest.name);
    });
    if (typeof d.replicationPolicy === 'object' && d.replicationPolicy.quorum > d.destinations.length) {
      throw new ConfigError(`databases.${i}.replicationPolicy.quorum: ${d.replicationPolicy.quorum} exceeds the ${d.destinations.length} destination(s)`);
    }
    return {
      path,
      name,
      destinations: d.destinations.map((dest) => (dest.type === 'file' ? { ...dest, path: abs(dest.path) } : dest)),
      replicationPolicy: d.replicationPolicy,
    };
  });
  if (!c.encryption.keys.some((k) => k.id === c.encryption.activeKey)) {
    throw new ConfigError(`encryption.activeKey: "${c.encryption.activeKey}" is not one of the ids in encryption.keys`);
  }
  const keys = c.encryption.keys.map((k) => (k.file !== undefined ? { ...k, file: abs(k.file) } : k));
  return deepFreeze({
    ...c,
    databases,
    encryption: { ...c.encryption, keys },
    stagingDir: abs(c.stagingDir),
    file: resolve(file),
  });
}

/** Reads and validates a config file. */
export function loadConfig(file: string): Readonly<AgentConfig> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      hint: 'pass the config with --config <path> (the repository ships agent.config.json)',
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseConfig(json, file);
}

/** Default database name: the file name without its extension. */
export function defaultName(path: string): string {
  const base = path.split(/[\\/]/).pop() ?? path;
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
