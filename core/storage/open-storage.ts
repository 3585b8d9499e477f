/**
 * Opens the store behind a destination entry of the config. Backends are
 * chosen by an explicit switch on the type.
 */
import type { DestinationConfig } from '../destination-config.js';
import { FileStorage } from './file-storage.js';
import type { Storage } from './storage.js';

/** The storage for one configured destination. */
export function openStorage(dest: DestinationConfig): Storage {
  switch (dest.type) {
    case 'file':
      return new FileStorage(dest.path);
  }
}
