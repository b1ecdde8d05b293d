/**
 * Progress of long steps: a self-rewriting line on a terminal, plain lines otherwise (logs,
 * CI). Written to stderr so stdout stays for results.
 */
export interface Progress {
  phase(text: string): void;
  bytes(count: number): void;
  file(): void;
  done(): void;
}

export const silentProgress: Progress = { phase() {}, bytes() {}, file() {}, done() {} };

export function createProgress(
  out: NodeJS.WriteStream = process.stderr,
  now: () => number = Date.now,
): Progress {
  const tty = out.isTTY === true;
  let phase = '';
  let bytes = 0;
  let files = 0;
  let lastDraw = 0;
  const line = (): string => `${phase}: ${(bytes / 1048576).toFixed(1)} MiB pulled, ${files} files extracted`;
  const draw = (force: boolean): void => {
    if (!tty || phase === '') return;
    const time = now();
    if (!force && time - lastDraw < 100) return;
    lastDraw = time;
    out.write(`\r\x1b[K${line()}`);
  };
  const finishPhase = (): void => {
    if (phase === '') return;
    if (tty) out.write(`\r\x1b[K${line()}\n`);
    else if (bytes > 0 || files > 0) out.write(`${line()}\n`);
  };
  return {
    phase(text) {
      finishPhase();
      phase = text;
      bytes = 0;
      files = 0;
      if (!tty) out.write(`${text}\n`);
      draw(true);
    },
    bytes(count) {
      bytes += count;
      draw(false);
    },
    file() {
      files += 1;
      draw(false);
    },
    done() {
      finishPhase();
      phase = '';
    },
  };
}
