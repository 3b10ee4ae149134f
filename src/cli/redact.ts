/**
 * Keeps passwords out of anything the CLI prints: URLs with credentials have their password
 * replaced, and the password of the URL in use is masked wherever else it appears (a driver
 * error may quote it).
 */
export function redactSecrets(message: string, urls: (string | undefined)[]): string {
  let out = message.replace(/(postgres(?:ql)?:\/\/[^:@\s/]*:)[^@\s]*@/gi, '$1***@');
  for (const url of urls) {
    if (!url) continue;
    let password = '';
    try {
      password = new URL(url).password;
    } catch {
      continue;
    }
    for (const form of new Set([password, safeDecode(password)])) {
      if (form.length >= 3) out = out.replaceAll(form, '***');
    }
  }
  return out;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** The database URLs this process was given: --database-url and DATABASE_URL. */
export function givenUrls(argv: string[] = process.argv): string[] {
  const urls: string[] = [];
  argv.forEach((arg, i) => {
    if (arg === '--database-url' && argv[i + 1]) urls.push(argv[i + 1] as string);
    else if (arg.startsWith('--database-url=')) urls.push(arg.slice('--database-url='.length));
  });
  if (process.env.DATABASE_URL) urls.push(process.env.DATABASE_URL);
  return urls;
}
