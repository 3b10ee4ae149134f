/**
 * The one error type the benchmark throws for its own problems (bad options, an empty data set,
 * a twin that differs from its original). Not a PgpartsError: these are the benchmark's, not the
 * library's; errors from pgparts itself pass through unchanged.
 */
export class BenchError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message.startsWith('bench: ') ? message : `bench: ${message}`, options);
    this.name = 'BenchError';
  }
}
