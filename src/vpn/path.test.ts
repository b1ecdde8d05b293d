import { describe, expect, it } from 'vitest';
import { DEFAULT_PATH_SETTINGS, pathName, stepPath, type PathObservation, type PathState } from './path.ts';

// The numbers below assume a 5 s direct timeout; the default (6.5 s) is covered separately.
const S = { ...DEFAULT_PATH_SETTINGS, directTimeoutMs: 5_000 };
const RELAY = '127.0.0.1:40000';
const base = (more: Partial<PathObservation>): PathObservation => ({
  now: 0,
  candidates: ['198.18.0.2:51830', '198.18.9.9:51830'],
  latestHandshakeMs: 0,
  ...more,
});

/** Drives the machine through a sequence of observations, feeding each step's state back. */
function drive(observations: PathObservation[], settings = S): ReturnType<typeof stepPath>[] {
  let state: PathState | undefined;
  return observations.map((seen) => {
    const step = stepPath(state, seen, settings);
    state = step.state;
    return step;
  });
}

describe('path choice', () => {
  it('waits out one WireGuard handshake retry (5 s + jitter) before leaving a candidate', () => {
    expect(DEFAULT_PATH_SETTINGS.directTimeoutMs).toBeGreaterThan(5_333);
    const steps = drive([base({ now: 0 }), base({ now: 6_000 })], DEFAULT_PATH_SETTINGS);
    expect(steps[1]?.state).toMatchObject({ kind: 'trying', index: 0 });
  });

  it('starts direct on the first candidate and settles on a handshake', () => {
    const [first, second] = drive([
      base({ now: 0 }),
      base({ now: 1500, latestHandshakeMs: 1000, currentEndpoint: '198.18.0.2:51830' }),
    ]);
    expect(first).toMatchObject({
      endpoint: '198.18.0.2:51830',
      applyEndpoint: true,
      reset: false,
      state: { kind: 'trying', index: 0 },
    });
    expect(second?.state.kind).toBe('direct');
    expect(second?.wantRelay).toBe(false);
  });

  it('tries each candidate, then the relay, re-adding the peer each time', () => {
    const steps = drive([
      base({ now: 0 }),
      base({ now: 4_999 }),
      base({ now: 5_000, relayEndpoint: RELAY }),
      base({ now: 10_000, relayEndpoint: RELAY }),
    ]);
    expect(steps[1]).toMatchObject({
      applyEndpoint: false,
      state: { kind: 'trying', index: 0 },
      wantRelay: true,
    });
    expect(steps[2]).toMatchObject({
      endpoint: '198.18.9.9:51830',
      reset: true,
      state: { kind: 'trying', index: 1 },
    });
    expect(steps[3]).toMatchObject({
      endpoint: RELAY,
      reset: true,
      applyEndpoint: true,
      state: { kind: 'relay' },
    });
    expect(pathName(steps[3]?.state)).toBe('relay');
  });

  it('does not count a handshake from before the attempt', () => {
    const steps = drive([base({ now: 10_000 }), base({ now: 11_000, latestHandshakeMs: 8_000 })]);
    expect(steps[1]?.state.kind).toBe('trying');
  });

  it('waits for the relay socket before switching the endpoint', () => {
    const steps = drive([
      base({ now: 0, candidates: ['x:1'] }),
      base({ now: 6_000, candidates: ['x:1'] }),
      base({ now: 7_000, candidates: ['x:1'], relayEndpoint: RELAY }),
    ]);
    expect(steps[1]).toMatchObject({ applyEndpoint: false, state: { kind: 'relay', applied: false } });
    expect(steps[2]).toMatchObject({
      endpoint: RELAY,
      applyEndpoint: true,
      reset: true,
      state: { kind: 'relay', applied: true },
    });
  });

  it('probes direct again later, backing off after each failure, and keeps direct when it works', () => {
    const c = ['x:1'];
    const steps = drive([
      base({ now: 0, candidates: c }),
      base({ now: 5_000, candidates: c, relayEndpoint: RELAY }), // -> relay, probe at 65 s
      base({
        now: 64_000,
        candidates: c,
        relayEndpoint: RELAY,
        currentEndpoint: RELAY,
        latestHandshakeMs: 6_000,
      }),
      base({
        now: 65_000,
        candidates: c,
        relayEndpoint: RELAY,
        currentEndpoint: RELAY,
        latestHandshakeMs: 6_000,
      }), // probe
      base({ now: 66_999, candidates: c, relayEndpoint: RELAY, currentEndpoint: 'x:1' }), // probing
      base({ now: 67_000, candidates: c, relayEndpoint: RELAY, currentEndpoint: 'x:1' }), // failed
      base({
        now: 68_000,
        candidates: c,
        relayEndpoint: RELAY,
        currentEndpoint: RELAY,
        latestHandshakeMs: 68_000,
      }),
    ]);
    expect(steps[2]?.state.kind).toBe('relay');
    // A probe waits only probeTimeoutMs (2 s): the relayed traffic pauses at most that long.
    expect(steps[3]).toMatchObject({
      endpoint: 'x:1',
      reset: true,
      wantRelay: true,
      state: { kind: 'trying', probeIntervalMs: 120_000, timeoutMs: 2_000 },
    });
    expect(steps[4]?.state.kind).toBe('trying');
    expect(steps[5]).toMatchObject({
      endpoint: RELAY,
      reset: true,
      state: { kind: 'relay', probeAt: 187_000 },
    });
    expect(steps[6]?.state.kind).toBe('relay');

    const ok = drive([
      base({ now: 0, candidates: c }),
      base({ now: 5_000, candidates: c, relayEndpoint: RELAY }),
      base({ now: 65_000, candidates: c, relayEndpoint: RELAY, currentEndpoint: RELAY }),
      base({
        now: 66_000,
        candidates: c,
        relayEndpoint: RELAY,
        currentEndpoint: 'x:1',
        latestHandshakeMs: 66_000,
      }),
    ]);
    expect(ok[3]?.state.kind).toBe('direct');
    expect(ok[3]?.wantRelay).toBe(false);
  });

  it('follows WireGuard roaming both ways', () => {
    // The peer reaches us through its relay stream while we are direct: follow it.
    const toRelay = drive([
      base({ now: 0 }),
      base({ now: 1_000, latestHandshakeMs: 1_000 }),
      base({ now: 2_000, relayEndpoint: RELAY, currentEndpoint: RELAY, latestHandshakeMs: 1_000 }),
    ]);
    expect(toRelay[2]).toMatchObject({ applyEndpoint: false, reset: false, state: { kind: 'relay' } });
    // The peer reaches us over UDP while we relay: direct works, follow it.
    const toDirect = drive([
      base({ now: 0, candidates: [] }),
      base({ now: 1_000, candidates: [], relayEndpoint: RELAY }),
      base({ now: 2_000, candidates: [], relayEndpoint: RELAY, currentEndpoint: '198.18.5.5:51830' }),
    ]);
    expect(toDirect[0]?.state.kind).toBe('relay');
    expect(toDirect[2]?.state.kind).toBe('direct');
  });

  it('tries again when a direct session goes stale', () => {
    const steps = drive([
      base({ now: 0 }),
      base({ now: 1_000, latestHandshakeMs: 1_000 }),
      base({ now: 182_000, latestHandshakeMs: 1_000 }),
    ]);
    expect(steps[2]).toMatchObject({ reset: true, state: { kind: 'trying', index: 0 } });
  });

  it('without a relay transport keeps cycling direct candidates', () => {
    const settings = { ...S, relayAvailable: false };
    const steps = drive([base({ now: 0 }), base({ now: 5_000 }), base({ now: 10_000 })], settings);
    expect(steps.map((s) => s.state.kind)).toEqual(['trying', 'trying', 'trying']);
    expect(steps[2]?.endpoint).toBe('198.18.0.2:51830');
  });

  it('forced relay never tries direct', () => {
    const settings = { ...S, forceRelay: true };
    const steps = drive(
      [
        base({ now: 0 }),
        base({ now: 100, relayEndpoint: RELAY }),
        base({ now: 900_000, relayEndpoint: RELAY, currentEndpoint: RELAY }),
      ],
      settings,
    );
    expect(steps.map((s) => s.state.kind)).toEqual(['relay', 'relay', 'relay']);
    expect(steps[1]).toMatchObject({ endpoint: RELAY, applyEndpoint: true });
    expect(steps[2]?.applyEndpoint).toBe(false);
  });
});
