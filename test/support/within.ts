/**
 * What `pending` settled with within 10 s: 'ok', its error, or 'pending' when it had not
 * settled by then (what a test of something that must not wait for ever checks).
 */
export function within10s(pending: Promise<unknown>): Promise<unknown> {
  const timeout = new Promise((done) => setTimeout(() => done('pending'), 10_000).unref());
  return Promise.race([
    pending.then(
      () => 'ok',
      (error: unknown) => error,
    ),
    timeout,
  ]);
}
