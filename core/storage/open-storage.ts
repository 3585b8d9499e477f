/**
 * Opens the store behind a destination entry of the config. Backends are
 * chosen by an explicit switch on the type.
 */
import type { DestinationConfig } from '../destination-config.js';
import { AzureStorage } from './azure-storage.js';
import { FileStorage } from './file-storage.js';
import { S3Storage } from './s3-storage.js';
import type { Storage } from './storage.js';

/** The storage for one configured destination. */
export function openStorage(dest: DestinationConfig): Storage {
  switch (dest.type) {
    case 'file':
      return new FileStorage(dest.path);
    case 's3':
      return new S3Storage(dest);
    case 'azure':
      return new AzureStorage(dest);
  }
}
