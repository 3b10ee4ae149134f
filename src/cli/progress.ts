import type { CatalogReadOptions } from '../catalog/inspect.js';
import type { ApplyEvent } from '../run/apply.js';
import { pgErrorMessage } from '../run/pg-error.js';
import { formatMs, formatNotices, formatResult } from './format.js';
import { type CliStream, cliIo } from './io.js';
import type { LockOptions } from './options.js';

/**
 * What `pgparts apply` shows while it runs: one line per step as it ends, retries as they
 * happen, and, on a terminal, a bar for steps that report progress (drains copying rows). No
 * dependency: a carriage-return line is all a bar needs.
 */
export function progressPrinter(out: CliStream = cliIo().stdout): (event: ApplyEvent) => void {
  const tty = out.isTTY === true;
  let barShown = false;
  let lastLoggedPercent = -1;
  let waitSaid = false;
  const clearBar = () => {
    if (barShown) {
      out.write('\r\x1b[K');
      barShown = false;
    }
  };
  return (event) => {
    switch (event.type) {
      case 'planned': {
        out.write(
          event.plan.steps.length === 0
            ? 'nothing to do: every declared partition exists\n'
            : `${event.plan.steps.length} step(s) to run\n`,
        );
        // What plan says beside its steps (a key left to a drain that is running, ...).
        const notices = formatNotices(event.plan.notices);
        if (notices.length > 0) out.write(`${notices.slice(1).join('\n')}\n`);
        break;
      }
      case 'step-start':
        lastLoggedPercent = -1;
        break;
      case 'step-retry':
        clearBar();
        out.write(retryLine(event.step.partitions.join(', '), event));
        break;
      case 'lock-busy':
        // Said once, not at every try.
        if (!waitSaid) {
          waitSaid = true;
          out.write(
            `another run holds the maintenance lock${event.holderPid === null ? '' : ` (backend ${event.holderPid})`}: waiting for it (--wait-for-lock)\n`,
          );
        }
        break;
      case 'read-retry':
        out.write(retryLine('reading the catalog', event));
        break;
      case 'step-progress': {
        const { done, total, unit } = event;
        const percent = total ? Math.min(100, Math.floor((done / total) * 100)) : null;
        if (tty) {
          const width = 30;
          const filled = percent === null ? 0 : Math.round((percent / 100) * width);
          const bar =
            percent === null
              ? ''
              : `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${percent}% `;
          out.write(
            `\r\x1b[K  ${event.step.kind} ${event.step.label}: ${bar}${done}${total ? `/${total}` : ''} ${unit}`,
          );
          barShown = true;
        } else if (percent !== null && percent >= lastLoggedPercent + 10) {
          lastLoggedPercent = percent - (percent % 10);
          out.write(
            `  ${event.step.kind} ${event.step.label}: ${percent}% (${done}/${total} ${unit})\n`,
          );
        }
        break;
      }
      case 'step-end':
        clearBar();
        out.write(`[${event.index + 1}/${event.total}] ${formatResult(event.result)}\n`);
        break;
      default:
        break;
    }
  };
}

/**
 * The `onRetry` of a read that waits for locks (inspect's catalog read for plan, status and
 * apply --dry-run; a drain's dry run): each retry as apply prints it, on stderr by default, so
 * that the JSON or metrics on stdout stay whole.
 */
export function readRetryPrinter(
  what: string,
  out: CliStream = cliIo().stderr,
): (attempt: number, delayMs: number, error: unknown) => void {
  return (attempt, delayMs, error) =>
    out.write(retryLine(what, { attempt, delayMs, message: pgErrorMessage(error) }));
}

/**
 * The catalog read's options from a command's --lock-timeout and --retries, its retries printed
 * (readRetryPrinter, on `out`): what plan, status and apply pass to inspect.
 */
export function catalogRead(options: LockOptions, out?: CliStream): CatalogReadOptions {
  return {
    lockTimeoutMs: options.lockTimeout,
    retries: options.retries,
    onRetry: readRetryPrinter('reading the catalog', out),
  };
}

/** An attempt that gave up on a lock, and when the next one starts. */
function retryLine(what: string, retry: { attempt: number; message: string; delayMs: number }) {
  return `  ${what}: attempt ${retry.attempt} gave up (${retry.message}); retrying in ${formatMs(retry.delayMs)}\n`;
}
