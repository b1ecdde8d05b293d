/**
 * Writes commits to the store strictly in the order they were queued, one write at a time;
 * commits queued while a write is in flight go out together in the next write (group commit).
 *
 * Order matters: each commit carries the state records and heads it changed, so a later commit
 * landing before an earlier one could leave an older value on disk. After a failed write every
 * later one fails too, so the disk always holds a prefix of what was queued (restart + anti-
 * entropy then heal it) and never a later commit over a missing earlier one.
 */
export class CommitQueue<C> {
  private readonly write: (commits: C[], sync: boolean) => Promise<void>;
  private readonly onFailure: (error: Error) => void;
  private waiting: { commits: C[]; sync: boolean; done: Promise<void>; settle: Settle } | undefined;
  private inFlight: Promise<void> | undefined;
  private failure: Error | undefined;
  private queued = 0;

  /**
   * `write` stores the commits in order in one atomic batch (`sync`: fsync before resolving);
   * `onFailure` hears of the first failed write, once.
   */
  constructor(write: (commits: C[], sync: boolean) => Promise<void>, onFailure: (error: Error) => void) {
    this.write = write;
    this.onFailure = onFailure;
  }

  /** Commits queued and not yet written. */
  get pending(): number {
    return this.queued;
  }

  /** Resolves once `commit` (and all before it) is on disk, fsynced when `sync`; rejects if not. */
  enqueue(commit: C, sync: boolean): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    this.queued += 1;
    if (this.waiting === undefined) {
      let settle: Settle = { resolve: () => undefined, reject: () => undefined };
      const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
      // Callers that do not wait for the disk need not handle a failure: onFailure reports it.
      done.catch(() => undefined);
      this.waiting = { commits: [], sync: false, done, settle };
    }
    this.waiting.commits.push(commit);
    this.waiting.sync ||= sync;
    const { done } = this.waiting;
    if (this.inFlight === undefined) this.flush();
    return done;
  }

  /** Resolves when nothing is queued or being written (commits queued meanwhile included). */
  async idle(): Promise<void> {
    while (this.inFlight !== undefined) await this.inFlight;
  }

  /**
   * Resolves when what is queued now has been written (or has failed); unlike `idle`, it does
   * not also wait for commits queued later, which on a node ingesting without a pause is never.
   */
  async drained(): Promise<void> {
    await (this.waiting?.done ?? this.inFlight)?.catch(() => undefined);
  }

  private flush(): void {
    const group = this.waiting;
    if (group === undefined) return;
    this.waiting = undefined;
    const written =
      this.failure === undefined ? this.write(group.commits, group.sync) : Promise.reject(this.failure);
    this.inFlight = written.then(
      () => {
        this.queued -= group.commits.length;
        group.settle.resolve();
      },
      (error: unknown) => {
        this.queued -= group.commits.length;
        if (this.failure === undefined) {
          this.failure = error instanceof Error ? error : new Error(String(error));
          this.onFailure(this.failure);
        }
        group.settle.reject(this.failure);
      },
    );
    void this.inFlight.then(() => {
      this.inFlight = undefined;
      this.flush();
    });
  }
}

interface Settle {
  resolve: () => void;
  reject: (error: Error) => void;
}
