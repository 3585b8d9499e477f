/**
 * The configurations shown in README.md are valid: each destination example
 * and the main config example pass the config validator.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../core/config.js';

const test = suite('README configs');
const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');

test('every destination example in the README is a valid config', () => {
  const block = /```jsonc\n([\s\S]*?)```/.exec(readme)![1]!;
  const examples = block
    .split('\n\n')
    .map((chunk) => chunk.split('\n').filter((l) => !l.trim().startsWith('//')).join('\n').trim())
    .filter(Boolean);
  assert.ok(examples.length >= 7, `${examples.length} examples`);
  const names: string[] = [];
  for (const text of examples) {
    const dest = JSON.parse(text) as { name: string };
    names.push(dest.name);
    parseConfig(
      { databases: [{ path: './app.db', destinations: [dest] }], encryption: { activeKey: 'k1', keys: [{ id: 'k1', file: './k.key' }] } },
      '/etc/walcast/agent.config.json',
    );
  }
  assert.equal(names, ['s3', 'r2', 'b2', 'minio', 'gcs', 'spaces', 'azure']);
});

test('the main config example in the README is valid', () => {
  const block = /```json\n(\{\n  "databases"[\s\S]*?)```/.exec(readme)![1]!;
  const c = parseConfig(JSON.parse(block), '/etc/walcast/agent.config.json');
  assert.is(c.databases[0]!.name, 'app');
});

test.run();
