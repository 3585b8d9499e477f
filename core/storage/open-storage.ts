/**
 * Opens the store behind a destination entry of the config. Backends are
 * chosen by an explicit switch on the type; the S3 and Azure SDKs are loaded
 * only when a destination needs them (loading both costs ~0.2 s of start-up,
 * which a restore from a folder should not pay).
 */
import type { DestinationConfig } from '../destination-config.js';
import { FileStorage } from './file-storage.js';
import type { Storage } from './storage.js';

/** The storage for one configured destination. */
export async function openStorage(dest: DestinationConfig): Promise<Storage> {
  switch (dest.type) {
    case 'file':
      return new FileStorage(dest.path);
    case 's3':
      return new (await import('./s3-storage.js')).S3Storage(dest);
    case 'azure':
      return new (await import('./azure-storage.js')).AzureStorage(dest);
  }
}
