/**
 * The foundation's round trip and crash loop with fan-out to a local folder,
 * S3 (s3rver) and Azure Blob (Azurite): every destination, restored from on
 * its own, reproduces every recorded state bit-exact.
 */
import { suite } from 'uvu';
import { join } from 'node:path';
import { azureDestinationConfig, createAzureContainer, s3DestinationConfig, startAzurite, startS3rver, type AzuriteHandle, type S3rverHandle } from '../helpers/servers.js';
import { roundTrip } from '../scenarios/round-trip.js';
import { crashLoop } from '../scenarios/crash.js';

const test = suite('fan-out');
let s3: S3rverHandle;
let azure: AzuriteHandle;
let n = 0;

test.before(async () => {
  [s3, azure] = await Promise.all([startS3rver(), startAzurite()]);
});
test.after(async () => {
  await Promise.all([s3?.stop(), azure?.stop()]);
});

/** file + s3 + azure, each run under its own prefix/container. */
async function destinations(): Promise<(dir: string) => Record<string, unknown>[]> {
  const run = `run${++n}`;
  await createAzureContainer(azure, run);
  return (dir) => [
    { name: 'local', type: 'file', path: join(dir, 'replica') },
    s3DestinationConfig(s3, 's3', run),
    azureDestinationConfig(azure, run, 'azure'),
  ];
}

test('round trip: every state restores bit-exact from each of file, S3 and Azure', async () => {
  await roundTrip({ destinations: await destinations(), restoreFrom: ['s3', 'azure', 'local'] });
});

test('crash loop: with S3 and Azure in the fan-out, nothing is lost (restored from S3)', async () => {
  await crashLoop({ kills: 12, destinations: await destinations(), restoreFrom: 's3' });
});

test.run();
