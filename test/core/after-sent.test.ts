import { describe, expect, it } from 'vitest';
import { afterSent } from '../../src/run/execute.js';

/** A pending query as the drivers give them: nothing happens until `then` is called. */
function lazy<T>(log: string[], name: string, outcome: () => T): PromiseLike<T> {
  return {
    // biome-ignore lint/suspicious/noThenProperty: a thenable on purpose, like a driver's query
    then(ok, fail) {
      log.push(`${name} sent`);
      return new Promise<T>((resolve) => resolve(outcome())).then(ok, fail);
    },
  };
}

describe('afterSent', () => {
  it('sends the statement ahead before the work starts, and returns both results', async () => {
    const log: string[] = [];
    const result = await afterSent(
      lazy(log, 'BEGIN', () => 'begun'),
      async () => {
        log.push('work started');
        return 42;
      },
    );
    expect(result).toEqual(['begun', 42]);
    expect(log).toEqual(['BEGIN sent', 'work started']);
  });

  it("reports the statement ahead's failure, not the one the work met because of it", async () => {
    const lost = new Error('connection lost before BEGIN');
    const aborted = new Error('current transaction is aborted');
    await expect(
      afterSent(
        lazy([], 'BEGIN', () => {
          throw lost;
        }),
        async () => {
          throw aborted;
        },
      ),
    ).rejects.toBe(lost);
  });

  it('fails when only the statement ahead failed, and with the work error when only it failed', async () => {
    const failed = new Error('settings refused');
    await expect(
      afterSent(
        lazy([], 'SET', () => {
          throw failed;
        }),
        async () => 'done',
      ),
    ).rejects.toBe(failed);
    const own = new Error('lock timeout');
    await expect(
      afterSent(
        lazy([], 'SET', () => 'ok'),
        async () => {
          throw own;
        },
      ),
    ).rejects.toBe(own);
  });
});
