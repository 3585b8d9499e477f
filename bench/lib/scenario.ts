/** The contract of a bench scenario: one per file under bench/scenarios/. */
import type { ScenarioContext } from './context.js';
import type { Figure } from './report.js';

/** One bench scenario. */
export interface Scenario {
  /** Short kebab-case name; also the name of its JSON file. */
  name: string;
  /** One line on what it measures. */
  summary: string;
  /**
   * Node flags of the program an in-process scenario stands for (the agent's
   * or the restore tool's, core/node-flags.ts); the runner runs the scenario
   * in a child process started with them.
   */
  nodeFlags?: readonly string[];
  /** Measures and returns its figures; parameters and notes go into `ctx`. */
  run(ctx: ScenarioContext): Promise<Figure[]>;
}
