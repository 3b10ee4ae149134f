/**
 * Keeps passwords out of anything the CLI prints: in a connection URL the password becomes
 * `***`, and so does the value of a `password=` key. (Masking every occurrence of the password
 * text would also mangle ordinary words that happen to equal it.)
 */
export function redactSecrets(message: string): string {
  return message
    .replace(/(postgres(?:ql)?:\/\/[^:@\s/]*:)[^\s/]*@/gi, '$1***@')
    .replace(/(\bpassword\s*=\s*)('[^']*'|"[^"]*"|\S+)/gi, '$1***');
}
