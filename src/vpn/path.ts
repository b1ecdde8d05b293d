/**
 * Per-peer choice between direct UDP and the relay stream. Pure: the service feeds it what
 * `wg show dump` says and applies what it returns.
 *
 * - `trying`: direct UDP to candidate endpoint `index` since `since`; a handshake newer than
 *   `since` makes the path `direct`; none within `directTimeoutMs` moves to the next candidate,
 *   and after the last one to `relay`.
 * - `direct`: established; a handshake older than `staleMs` starts trying again.
 * - `relay`: WireGuard's endpoint is the local relay socket; at `probeAt` direct is tried again
 *   (the wait doubles after each failed probe, up to `maxProbeIntervalMs`).
 * WireGuard roams to wherever authenticated packets come from: when the peer reaches us over
 * the other path, the state follows what WireGuard already did instead of fighting it.
 */
export type PathState =
  | { kind: 'trying'; index: number; since: number; timeoutMs: number; probeIntervalMs: number }
  | { kind: 'direct'; since: number }
  | { kind: 'relay'; since: number; probeAt: number; probeIntervalMs: number; applied: boolean };

export interface PathSettings {
  directTimeoutMs: number;
  /**
   * Per candidate when probing from the relay: both sides know each other by then, so a
   * working path answers within a round trip. Traffic to the peer stops for at most this long.
   */
  probeTimeoutMs: number;
  staleMs: number;
  probeIntervalMs: number;
  maxProbeIntervalMs: number;
  /** Never try direct (benchmarks and tests of the relay path). */
  forceRelay: boolean;
  /** No relay transport: keep cycling through the direct candidates. */
  relayAvailable: boolean;
}

export const DEFAULT_PATH_SETTINGS: PathSettings = {
  // WireGuard retries a handshake after 5 s (+ up to 1/3 s jitter). Waiting for that retry
  // covers a peer that had not yet read our record when the first initiation arrived.
  directTimeoutMs: 6_500,
  probeTimeoutMs: 2_000,
  // WireGuard rekeys every 2 minutes while traffic flows and keepalives keep it flowing.
  staleMs: 180_000,
  probeIntervalMs: 60_000,
  maxProbeIntervalMs: 600_000,
  forceRelay: false,
  relayAvailable: true,
};

export interface PathObservation {
  now: number;
  candidates: readonly string[];
  /** The local relay socket for this peer, when one is open. */
  relayEndpoint?: string | undefined;
  /** The endpoint WireGuard uses now (after roaming). */
  currentEndpoint?: string | undefined;
  latestHandshakeMs: number;
}

export interface PathStep {
  state: PathState;
  /** Where WireGuard should send; undefined leaves it as it is. */
  endpoint?: string | undefined;
  /** Write `endpoint` even if the peer exists (a transition, not a steady state). */
  applyEndpoint: boolean;
  /** Re-add the peer so a handshake starts at once on the new path. */
  reset: boolean;
  /** A relay socket and stream to this peer are needed. */
  wantRelay: boolean;
}

export function stepPath(
  previous: PathState | undefined,
  seen: PathObservation,
  settings: PathSettings,
): PathStep {
  const { now } = seen;
  const onRelay = seen.relayEndpoint !== undefined && seen.currentEndpoint === seen.relayEndpoint;
  // Until the relay socket exists the peer keeps its endpoint; the next step applies it.
  const goRelay = (probeIntervalMs: number): PathStep => {
    const applied = seen.relayEndpoint !== undefined;
    return {
      state: { kind: 'relay', since: now, probeAt: now + probeIntervalMs, probeIntervalMs, applied },
      endpoint: seen.relayEndpoint,
      applyEndpoint: applied,
      reset: applied && previous !== undefined,
      wantRelay: true,
    };
  };
  const tryDirect = (
    index: number,
    probeIntervalMs: number,
    timeoutMs = settings.directTimeoutMs,
  ): PathStep => ({
    state: { kind: 'trying', index, since: now, timeoutMs, probeIntervalMs },
    endpoint: seen.candidates[index],
    applyEndpoint: true,
    reset: previous !== undefined,
    wantRelay: previous?.kind === 'relay' || previous?.kind === 'trying',
  });

  if (settings.forceRelay && settings.relayAvailable) {
    if (previous?.kind !== 'relay') return goRelay(settings.probeIntervalMs);
    if (!previous.applied || !onRelay) return applyRelay(previous, seen);
    return stay(previous, true);
  }

  if (previous === undefined) {
    if (seen.candidates.length === 0 && settings.relayAvailable) return goRelay(settings.probeIntervalMs);
    return tryDirect(0, settings.probeIntervalMs);
  }

  switch (previous.kind) {
    case 'trying': {
      if (onRelay) return adoptRelay(now, previous.probeIntervalMs, settings);
      // A handshake counts when it is newer than the attempt (dump times have 1 s resolution;
      // every attempt re-adds the peer, so an older session cannot show up here).
      if (seen.latestHandshakeMs > 0 && seen.latestHandshakeMs >= previous.since - 1000)
        return adoptDirect(now);
      if (now - previous.since < previous.timeoutMs) return stay(previous, settings.relayAvailable);
      if (previous.index + 1 < seen.candidates.length)
        return tryDirect(previous.index + 1, previous.probeIntervalMs, previous.timeoutMs);
      if (!settings.relayAvailable) return tryDirect(0, previous.probeIntervalMs);
      return goRelay(previous.probeIntervalMs);
    }
    case 'direct': {
      if (onRelay) return adoptRelay(now, settings.probeIntervalMs, settings);
      if (now - seen.latestHandshakeMs > settings.staleMs) return tryDirect(0, settings.probeIntervalMs);
      return stay(previous, false);
    }
    case 'relay': {
      if (!previous.applied) return applyRelay(previous, seen);
      // Authenticated packets from the peer arrived over UDP: WireGuard moved there already.
      if (seen.currentEndpoint !== undefined && !onRelay) return adoptDirect(now);
      if (now >= previous.probeAt && seen.candidates.length > 0)
        return tryDirect(
          0,
          Math.min(previous.probeIntervalMs * 2, settings.maxProbeIntervalMs),
          settings.probeTimeoutMs,
        );
      return stay(previous, true);
    }
  }
}

function applyRelay(state: PathState & { kind: 'relay' }, seen: PathObservation): PathStep {
  if (seen.relayEndpoint === undefined) return stay(state, true);
  return {
    state: { ...state, applied: true },
    endpoint: seen.relayEndpoint,
    applyEndpoint: true,
    reset: true,
    wantRelay: true,
  };
}

function stay(state: PathState, wantRelay: boolean): PathStep {
  return { state, applyEndpoint: false, reset: false, wantRelay };
}

function adoptDirect(now: number): PathStep {
  return { state: { kind: 'direct', since: now }, applyEndpoint: false, reset: false, wantRelay: false };
}

function adoptRelay(now: number, probeIntervalMs: number, settings: PathSettings): PathStep {
  return {
    state: {
      kind: 'relay',
      since: now,
      probeAt: now + Math.min(probeIntervalMs, settings.maxProbeIntervalMs),
      probeIntervalMs,
      applied: true,
    },
    applyEndpoint: false,
    reset: false,
    wantRelay: true,
  };
}

/** What the operator sees: `relay` while the relay socket carries the peer, else `direct`. */
export function pathName(state: PathState | undefined): 'direct' | 'relay' {
  return state?.kind === 'relay' ? 'relay' : 'direct';
}
