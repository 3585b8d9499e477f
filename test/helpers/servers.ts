/**
 * Local stand-ins for cloud object stores, run as child processes: s3rver for
 * S3 and Azurite for Azure Blob Storage. Each child watches its stdin and
 * exits when it closes, so even a test process killed outright (the runner's
 * time limit) leaves no server behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './tmp.js';

/** The repository root (this file runs from dist/test/helpers, its source from test/helpers). */
export const REPO_ROOT = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

function findRepoRoot(from: string): string {
  for (let d = from; ; d = dirname(d)) {
    const pkg = join(d, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'walcast') return d;
    if (dirname(d) === d) throw new Error(`no walcast package.json above ${from}`);
  }
}

/** s3rver accepts any secret key but only this access key id. */
export const S3RVER_KEY = 'S3RVER';
/** Azurite's fixed development account. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
/** The well-known key of Azurite's development account (public, not a secret). */
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** A running s3rver. */
export interface S3rverHandle {
  endpoint: string;
  port: number;
  /** A bucket created at startup. */
  bucket: string;
  /** Where s3rver keeps its files. */
  dir: string;
  stop(): Promise<void>;
}

/** A running Azurite blob service (in memory). */
export interface AzuriteHandle {
  connectionString: string;
  /** Blob endpoint including the account, e.g. http://127.0.0.1:PORT/devstoreaccount1. */
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

// Runs a CommonJS CLI (with `-e CODE -- script args`, process.argv already
// reads [node, script, args], as if the script ran directly) and ends the
// process when the parent's pipe closes.
const WATCHDOG = [
  "process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM'));",
  'process.stdin.on("error", () => {});',
  'process.stdin.resume();',
  'require(process.argv[1]);',
].join(' ');

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** Starts a CLI under the watchdog and waits for a stdout line matching `ready`. */
function startChild(nodeArgs: string[], script: string, args: string[], ready: RegExp, label: string): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const child = spawn(process.execPath, [...nodeArgs, '-e', WATCHDOG, '--', script, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd: REPO_ROOT,
  });
  live.add(child);
  child.on('exit', () => live.delete(child));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`${label} did not start within 20 s:\n${out}`)), 20_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = out.match(ready);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stderr!.off('data', onData);
        // Keep draining so a chatty server never blocks on a full pipe.
        child.stdout!.resume();
        child.stderr!.resume();
        resolve({ child, match: m });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('error', fail);
    child.on('exit', (code, signal) => fail(new Error(`${label} exited (${code ?? signal}) before it was ready:\n${out}`)));
  });
}

/** Stops a child and waits until it is gone. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

/**
 * Starts s3rver on a free port of 127.0.0.1 with one bucket. It runs with
 * OpenSSL's legacy provider because it makes listing continuation tokens with
 * DES, which OpenSSL 3 otherwise lacks: without it, every listing of more than
 * 1000 keys fails with 500 InternalError.
 */
export async function startS3rver(opts: { bucket?: string; port?: number; dir?: string } = {}): Promise<S3rverHandle> {
  const bucket = opts.bucket ?? 'walcast-test';
  const dir = opts.dir ?? tempDir('s3rver');
  const script = join(REPO_ROOT, 'node_modules', 's3rver', 'bin', 's3rver.js');
  const { child, match } = await startChild(
    ['--openssl-legacy-provider'],
    script,
    ['-d', dir, '-a', '127.0.0.1', '-p', String(opts.port ?? 0), '--silent', '--configure-bucket', bucket],
    /S3rver listening on [\d.]+:(\d+)/,
    's3rver',
  );
  const port = Number(match[1]);
  return { endpoint: `http://127.0.0.1:${port}`, port, bucket, dir, stop: () => stopChild(child) };
}

/** Starts an in-memory Azurite blob service on a free port of 127.0.0.1. */
export async function startAzurite(): Promise<AzuriteHandle> {
  const script = realpathSync(join(REPO_ROOT, 'node_modules', '.bin', 'azurite-blob'));
  const { child, match } = await startChild(
    [],
    script,
    // The SDK speaks a newer API version than Azurite 3.35 knows: --skipApiVersionCheck.
    ['--blobHost', '127.0.0.1', '--blobPort', '0', '--inMemoryPersistence', '--disableTelemetry', '--skipApiVersionCheck', '--loose', '--silent'],
    /Azurite Blob service successfully listens on http:\/\/[\d.]+:(\d+)/,
    'Azurite',
  );
  const port = Number(match[1]);
  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint};`;
  return { connectionString, endpoint, port, stop: () => stopChild(child) };
}

/** A destination entry for agent.config.json pointing at s3rver. */
export function s3DestinationConfig(server: Pick<S3rverHandle, 'endpoint' | 'bucket'>, name = 's3', prefix = ''): Record<string, unknown> {
  return {
    name,
    type: 's3',
    prefix,
    bucket: server.bucket,
    region: 'us-east-1',
    endpoint: server.endpoint,
    forcePathStyle: true,
    accessKeyId: S3RVER_KEY,
    secretAccessKey: S3RVER_KEY,
    // s3rver ignores If-None-Match, so conditional puts are not atomic there.
    conditionalWrites: false,
  };
}

/** A destination entry for agent.config.json pointing at a container on Azurite (create it first). */
export function azureDestinationConfig(server: Pick<AzuriteHandle, 'connectionString'>, container: string, name = 'azure', prefix = ''): Record<string, unknown> {
  return { name, type: 'azure', prefix, container, connectionString: server.connectionString };
}

/** Creates a container in Azurite (walcast expects it to exist, as in a real account). */
export async function createAzureContainer(server: Pick<AzuriteHandle, 'connectionString'>, name: string): Promise<void> {
  const { ContainerClient } = await import('@azure/storage-blob');
  await new ContainerClient(server.connectionString, name).createIfNotExists();
}
