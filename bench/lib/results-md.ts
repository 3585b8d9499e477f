/**
 * Writes bench/RESULTS.md, the record of the latest full run, from the
 * full-mode JSON files in the results folder: date, machine, versions, the
 * figure table, missed targets, and each scenario's parameters and notes.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { markdownTable, rowOf, type ScenarioResult } from './report.js';

/** Reads every result JSON in `dir` of mode `full`, in `order`. */
export function readFullResults(dir: string, order: readonly string[]): ScenarioResult[] {
  if (!existsSync(dir)) return [];
  const all = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ScenarioResult)
    .filter((r) => r.mode === 'full');
  const rank = (s: string) => (order.indexOf(s) < 0 ? order.length : order.indexOf(s));
  return all.sort((a, b) => rank(a.scenario) - rank(b.scenario));
}

/** Renders RESULTS.md. */
export function renderResultsMd(results: readonly ScenarioResult[]): string {
  if (results.length === 0) return '# walcast bench results\n\nNo full run recorded yet: run `npm run bench`.\n';
  const latest = results.map((r) => r.date).sort().pop()!;
  const m = results[0]!.machine;
  const v = results[0]!.versions;
  const rows = results.flatMap((r) => (r.error ? [[r.scenario, `FAILED: ${r.error.split('\n')[0]}`, '', '', '', '', '']] : r.figures.map((f) => rowOf(r.scenario, f))));
  const missed = results.flatMap((r) => r.targets.filter((t) => t.met === false).map((t) => `- ${r.scenario}: ${t.label} — target ${t.target}, measured ${t.walcast ?? '–'}${t.ratio !== null ? ` (ratio ${t.ratio})` : ''}`));
  const lines = [
    '# walcast bench results',
    '',
    'Latest full run of `npm run bench` (written by the runner after a full run; do not edit by hand).',
    'Every figure was measured beside its baseline in the same run; ratio = walcast / baseline.',
    '',
    `- date: ${latest}`,
    `- machine: ${m.cpus} × ${m.model}, ${m.memGiB} GiB RAM, ${m.platform}, Node ${m.node}`,
    `- versions: walcast ${v.walcast}, SQLite ${v.sqlite} (bundled), Litestream ${v.litestream}`,
    `- scenarios: ${results.map((r) => `${r.scenario} (${r.durationS} s)`).join(', ')}`,
    '',
    markdownTable(rows),
    '',
    '## Missed targets',
    '',
    ...(missed.length ? missed : ['None.']),
    '',
    '## Parameters and notes',
    '',
  ];
  for (const r of results) {
    lines.push(`### ${r.scenario}`, '', '```json', JSON.stringify(r.params, null, 2), '```', '');
    for (const n of r.notes) lines.push(`- ${n}`);
    if (r.notes.length) lines.push('');
  }
  return lines.join('\n');
}

/** Regenerates `path` from the full results in `dir`. */
export function writeResultsMd(dir: string, path: string, order: readonly string[]): void {
  writeFileSync(path, renderResultsMd(readFullResults(dir, order)));
}
