/** The contract of a bench scenario: one per file under bench/scenarios/. */
import type { ScenarioContext } from './context.js';
import type { Figure } from './report.js';

/** One bench scenario. */
export interface Scenario {
  /** Short kebab-case name; also the name of its JSON file. */
  name: string;
  /** One line on what it measures. */
  summary: string;
  /** Measures and returns its figures; parameters and notes go into `ctx`. */
  run(ctx: ScenarioContext): Promise<Figure[]>;
}
