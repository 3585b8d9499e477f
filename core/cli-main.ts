/**
 * How walcast's programs end: the exit code `main` returns, or on an error
 * its message and hint on stderr and exit status 2 (bad usage or config) or 1.
 */
import { describeError, WalcastError } from './errors.js';

/** Runs `main` with the command-line arguments and exits the process. */
export function runMain(main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      const { message, hint } = describeError(err);
      console.error(`Error: ${message}`);
      if (hint) console.error(`Try: ${hint}`);
      const usage = err instanceof WalcastError && (err.code === 'WALCAST_ERR_USAGE' || err.code === 'WALCAST_ERR_CONFIG');
      process.exit(usage ? 2 : 1);
    },
  );
}
