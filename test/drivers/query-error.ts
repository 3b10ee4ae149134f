/**
 * The server's own message for a failed statement, whatever the driver: drizzle-orm 0.45 wraps
 * driver errors in DrizzleQueryError ("Failed query: ...") with the driver's error as `cause`.
 */
export async function serverError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? cause.message : (error as Error).message;
  }
  throw new Error('expected the statement to fail, and it succeeded');
}
