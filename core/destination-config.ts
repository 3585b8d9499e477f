/**
 * Destination entries of agent.config.json, one schema per backend type.
 */
import { z } from 'zod';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const common = {
  name: z.string().regex(NAME, 'a destination name is letters, digits, ".", "_" or "-"'),
  /** Folder inside the destination under which walcast keeps its objects. */
  prefix: z.string().regex(/^[^/].*[^/]$|^[^/]?$/, 'no leading or trailing "/"').default(''),
};

const fileSchema = z.strictObject({
  ...common,
  type: z.literal('file'),
  path: z.string().min(1),
});

/** Every destination type. */
export const destinationSchema = z.discriminatedUnion('type', [fileSchema]);

/** A local-folder destination. */
export type FileDestinationConfig = z.infer<typeof fileSchema>;
/** Any destination. */
export type DestinationConfig = z.infer<typeof destinationSchema>;
