import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../src/cli/connection.js';
import { redactSecrets } from '../../src/cli/redact.js';

describe('redactSecrets', () => {
  it('masks the password of any connection URL in a message', () => {
    expect(redactSecrets('cannot reach postgres://app:s3cret@db:5432/x (timeout)')).toBe(
      'cannot reach postgres://app:***@db:5432/x (timeout)',
    );
    expect(redactSecrets('postgresql://app:p@ss@db/x')).toBe('postgresql://app:***@db/x');
    expect(redactSecrets('host=db password=s3cret user=app')).toBe('host=db password=*** user=app');
    expect(redactSecrets("password = 'two words'")).toBe('password = ***');
  });

  it('leaves messages without credentials alone', () => {
    const message = 'pgparts: config file x.ts not found (postgres://app@db/x)';
    expect(redactSecrets(message)).toBe(message);
  });

  it('agrees with the label the CLI prints for its connection', () => {
    expect(redactUrl('postgres://app:s3cret@db:5432/x')).toBe('postgres://app:***@db:5432/x');
  });
});
