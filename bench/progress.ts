/** A one-line progress bar (carriage return on a terminal, a line per 10% otherwise). */
export interface Progress {
  tick(done: number): void;
  done(note?: string): void;
}

export function progressBar(label: string, total: number, out = process.stdout): Progress {
  const started = performance.now();
  const tty = out.isTTY === true;
  let lastTenth = -1;
  const line = (done: number) => {
    const ratio = total > 0 ? Math.min(1, done / total) : 1;
    const width = 28;
    const filled = Math.round(ratio * width);
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    return `${label.padEnd(34)} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.floor(ratio * 100)}% ${secs}s`;
  };
  return {
    tick(done) {
      if (tty) out.write(`\r\x1b[K${line(done)}`);
      else {
        const tenth = Math.floor((done / Math.max(total, 1)) * 10);
        if (tenth > lastTenth) {
          lastTenth = tenth;
          out.write(`${line(done)}\n`);
        }
      }
    },
    done(note) {
      const text = `${line(total)}${note ? `  ${note}` : ''}`;
      out.write(tty ? `\r\x1b[K${text}\n` : `${text}\n`);
    },
  };
}

/** Runs `work` and prints how long it took under `label`. */
export async function step<T>(label: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await work();
  console.log(`${label.padEnd(34)} ${((performance.now() - started) / 1000).toFixed(1)}s`);
  return result;
}
