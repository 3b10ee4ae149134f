import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModule } from '../../src/migrations/load-module.js';

const dir = mkdtempSync(join(tmpdir(), 'pgparts-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = join(dir, 'app.config.ts');
const schema = join(dir, 'schema.ts');
const writeConfig = (name: string) =>
  writeFileSync(
    config,
    `import { tableName } from './schema.js';\nexport const family: string = '${name}';\nexport const table: string = tableName;\nexport const evaluation = {};\n`,
  );
const writeSchema = (name: string) =>
  writeFileSync(schema, `export const tableName: string = '${name}';\n`);

describe('loadModule: a TypeScript config in one process', () => {
  it('reads the config and what it imports', async () => {
    writeSchema('events');
    writeConfig('first');
    expect(await loadModule(config)).toMatchObject({ family: 'first', table: 'events' });
  });

  it('an unchanged config is the module already evaluated, not evaluated again', async () => {
    const once = await loadModule(config);
    expect((await loadModule(config)).evaluation).toBe(once.evaluation);
  });

  it('an edited config is read again, at once (no waiting for the clock)', async () => {
    const before = await loadModule(config);
    writeConfig('second');
    const after = await loadModule(config);
    expect(after).toMatchObject({ family: 'second', table: 'events' });
    expect(after.evaluation).not.toBe(before.evaluation);
    writeConfig('third');
    expect(await loadModule(config)).toMatchObject({ family: 'third', table: 'events' });
  });

  it('an edited import is read again, and so is the config importing it', async () => {
    writeSchema('orders');
    expect(await loadModule(config)).toMatchObject({ family: 'third', table: 'orders' });
  });
});
