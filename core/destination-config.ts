/**
 * Destination entries of agent.config.json, one schema per backend type.
 */
import { z } from 'zod';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MiB = 1 << 20;
const common = {
  name: z.string().regex(NAME, 'a destination name is letters, digits, ".", "_" or "-"'),
  /** Folder inside the destination under which walcast keeps its objects. */
  prefix: z.string().regex(/^[^/].*[^/]$|^[^/]?$/, 'no leading or trailing "/"').default(''),
};
const httpUrl = () => z.url({ protocol: /^https?$/, error: 'use an http:// or https:// URL' });
/** How long a connection attempt or a stalled transfer may take before the request fails. */
const requestTimeoutMs = z.number().int().min(100).default(30_000);

const fileSchema = z.strictObject({
  ...common,
  type: z.literal('file'),
  path: z.string().min(1),
});

// Refinement issues carry a `path` naming a field whose value the config
// loader hides (it echoes the value at the path), so a credential
// never ends up in an error message.
const s3Schema = z
  .strictObject({
    ...common,
    type: z.literal('s3'),
    bucket: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/, 'a bucket name is letters, digits, ".", "_" or "-" (at least 2 characters)'),
    region: z.string().min(1).default('us-east-1'),
    /** For S3-compatible stores (MinIO, R2, B2, ...); AWS itself needs none. */
    endpoint: httpUrl().optional(),
    /** Path-style URLs (`endpoint/bucket/key`); most self-hosted stores need this. */
    forcePathStyle: z.boolean().default(false),
    /** Without these the AWS default credential chain is used (env, profile, instance role). */
    accessKeyId: z.string().min(1).optional(),
    secretAccessKey: z.string().min(1).optional(),
    sessionToken: z.string().min(1).optional(),
    serverSideEncryption: z.enum(['AES256', 'aws:kms']).optional(),
    sseKmsKeyId: z.string().min(1).optional(),
    /** False for stores that ignore If-None-Match on PUT; walcast then fences writers another way. */
    conditionalWrites: z.boolean().default(true),
    requestTimeoutMs,
    /** Multipart part size for streamed uploads; S3 requires at least 5 MiB. */
    partSizeBytes: z
      .number()
      .int()
      .min(5 * MiB, 'S3 parts are at least 5 MiB (5242880)')
      .max(5 * 1024 * MiB)
      .default(8 * MiB),
  })
  .refine((d) => (d.accessKeyId === undefined) === (d.secretAccessKey === undefined), {
    message: 'give "accessKeyId" and "secretAccessKey" together, or neither to use the AWS default credential chain',
    path: ['secretAccessKey'],
  })
  .refine((d) => d.sessionToken === undefined || d.accessKeyId !== undefined, {
    message: '"sessionToken" needs "accessKeyId" and "secretAccessKey"',
    path: ['sessionToken'],
  })
  .refine((d) => d.sseKmsKeyId === undefined || d.serverSideEncryption === 'aws:kms', {
    message: '"sseKmsKeyId" needs "serverSideEncryption": "aws:kms"',
    path: ['sseKmsKeyId'],
  });

const azureSchema = z
  .strictObject({
    ...common,
    type: z.literal('azure'),
    container: z.string().regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, 'a container name is 3-63 lower-case letters, digits or single "-"'),
    /** Style 1: a storage account connection string. */
    connectionString: z.string().min(1).optional(),
    /** Style 2: account name and key; `endpoint` defaults to https://<account>.blob.core.windows.net. */
    accountName: z.string().min(1).optional(),
    accountKey: z.string().min(1).optional(),
    endpoint: httpUrl().optional(),
    /** Style 3: the blob service URL and a SAS token with read, write, delete and list rights. */
    url: httpUrl().optional(),
    sasToken: z.string().min(1).optional(),
    requestTimeoutMs,
  })
  .refine(
    (d) => {
      const styles = [d.connectionString !== undefined, d.accountName !== undefined || d.accountKey !== undefined, d.url !== undefined || d.sasToken !== undefined];
      if (styles.filter(Boolean).length !== 1) return false;
      if (styles[1] && (d.accountName === undefined || d.accountKey === undefined)) return false;
      if (styles[2] && (d.url === undefined || d.sasToken === undefined)) return false;
      return d.endpoint === undefined || styles[1];
    },
    {
      message:
        'give exactly one credential style: "connectionString", or "accountName" + "accountKey" (optionally "endpoint"), or "url" + "sasToken"',
      path: ['connectionString'],
    },
  );

/** Every destination type. */
export const destinationSchema = z.discriminatedUnion('type', [fileSchema, s3Schema, azureSchema]);

/** A local-folder destination. */
export type FileDestinationConfig = z.infer<typeof fileSchema>;
/** An Amazon S3 or S3-compatible destination. */
export type S3DestinationConfig = z.infer<typeof s3Schema>;
/** An Azure Blob Storage container. */
export type AzureDestinationConfig = z.infer<typeof azureSchema>;
/** Any destination. */
export type DestinationConfig = z.infer<typeof destinationSchema>;
