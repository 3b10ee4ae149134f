import { PgpartsError } from '../errors.js';

/**
 * A syntax error met while loading a config module (`file`, or a module it imports), as an
 * `invalid-config` PgpartsError that starts like every other config problem and names the file
 * and the line; undefined for any other error. jiti reports a parse error as
 * `ParseError: <what> \n <path>:<line>:<column>` (column from 0); Node's own SyntaxError (a
 * module loaded natively) has `<path>:<line>` as the first line of its stack.
 */
export function configSyntaxError(file: string, error: unknown): PgpartsError | undefined {
  if (!(error instanceof Error)) return undefined;
  const parsed = /^(?:ParseError|SyntaxError): ([^\n]*)\n\s*(\S+):(\d+):(\d+)\s*$/.exec(
    error.message,
  );
  let what: string;
  let where: { path: string; line: string; column?: string } | undefined;
  if (parsed) {
    what = parsed[1] ?? '';
    where = { path: parsed[2] ?? '', line: parsed[3] ?? '', column: String(Number(parsed[4]) + 1) };
  } else if (error instanceof SyntaxError || error.name === 'SyntaxError') {
    what = error.message;
    const at = /^(?:file:\/\/)?(\S+):(\d+)\n/.exec(error.stack ?? '');
    if (at) where = { path: at[1] ?? '', line: at[2] ?? '' };
  } else {
    return undefined;
  }
  const line = where ? `line ${where.line}${where.column ? `, column ${where.column}` : ''}` : '';
  const place = !where ? '' : where.path === file ? ` at ${line}` : ` in ${where.path} at ${line}`;
  return new PgpartsError(
    'invalid-config',
    `pgparts: config file ${file}: syntax error${place}: ${what.trim()}; nothing was run`,
    { cause: error },
  );
}
