import { describe, expect, it } from 'vitest';
import { waitUntil } from './wait-until.ts';

describe('waitUntil', () => {
  function wakeable(): { subscribe: (wake: () => void) => () => void; wake: () => void; listeners: number } {
    const listeners = new Set<() => void>();
    return {
      subscribe: (wake) => {
        listeners.add(wake);
        return () => listeners.delete(wake);
      },
      wake: () => {
        for (const listener of [...listeners]) listener();
      },
      get listeners() {
        return listeners.size;
      },
    };
  }

  it('resolves true at once when the condition already holds, without subscribing', async () => {
    const events = wakeable();
    await expect(waitUntil(() => true, events.subscribe, 1_000)).resolves.toBe(true);
    expect(events.listeners).toBe(0);
  });

  it('resolves true on the first wake-up at which the condition holds, and unsubscribes', async () => {
    const events = wakeable();
    let done = false;
    const waiting = waitUntil(() => done, events.subscribe, 10_000);
    events.wake();
    expect(events.listeners).toBe(1);
    done = true;
    events.wake();
    await expect(waiting).resolves.toBe(true);
    expect(events.listeners).toBe(0);
  });

  it('resolves false after the timeout, and unsubscribes', async () => {
    const events = wakeable();
    await expect(waitUntil(() => false, events.subscribe, 20)).resolves.toBe(false);
    expect(events.listeners).toBe(0);
  });
});
