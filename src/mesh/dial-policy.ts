/**
 * When a member we are not connected to should be dialled. Pure: the dialer keeps the clock
 * readings and asks.
 *
 * Liveness needs no direct connection (a member alive second-hand is seen through a voucher),
 * so a joiner first rests on its bootstrap connection and the rest of the full mesh is filled
 * in later, a few seconds on and spread out: 25 daemons started together on 2 cores otherwise
 * spend ~9 s of CPU on 300 handshakes before anyone sees anyone.
 */
export interface DialTiming {
  /** Waits before dialling a member that is not alive to us in any way. */
  newMemberGraceMs: number;
  /** The higher peer id of a pair waits this much longer, so both rarely dial each other. */
  yieldMs: number;
  /** Waits before dialling a member alive second-hand (plus its own spread, see below). */
  fillInAfterMs: number;
  /**
   * Spread of the fill-in dials over time. Each new connection costs both ends CPU (handshake,
   * admission, gossipsub, ledger syncs): spread over 30 s, the ~300 of a 25-node mass boot
   * took puts made meanwhile to a p99 of ~280 ms to reach everyone; over 60 s, 60-110 ms.
   */
  fillInSpreadMs: number;
}

export const DIAL_TIMING: DialTiming = {
  newMemberGraceMs: 1_000,
  yieldMs: 3_000,
  fillInAfterMs: 15_000,
  fillInSpreadMs: 60_000,
};

export interface DialCandidate {
  /** Our peer id and the member's: the lower one dials first. */
  selfId: string;
  peerId: string;
  /** When we first knew of the member. */
  knownSince: number;
  /** Since when it is alive to us second-hand; undefined while it is not. */
  aliveSecondHandSince: number | undefined;
  /** This member's share of the fill-in spread, in [0, 1), drawn once. */
  spread: number;
}

export function dialIsDue(
  candidate: DialCandidate,
  nowMs: number,
  timing: DialTiming = DIAL_TIMING,
): boolean {
  const yieldMs = candidate.selfId < candidate.peerId ? 0 : timing.yieldMs;
  if (candidate.aliveSecondHandSince !== undefined) {
    const wait = timing.fillInAfterMs + candidate.spread * timing.fillInSpreadMs + yieldMs;
    return nowMs - candidate.aliveSecondHandSince >= wait;
  }
  // Freshly learned and not (yet) vouched for: its voucher's word is usually on the way.
  return nowMs - candidate.knownSince >= Math.max(timing.newMemberGraceMs, yieldMs);
}
