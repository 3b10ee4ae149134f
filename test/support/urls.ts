export const TEMPLATE_DATABASE = 'pgparts_template';

/** The same server URL, pointed at another database. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
