/** What one node knows of one member; liveness is derived, never stored. */
export interface MemberInfo {
  peerId: string;
  name: string;
  addresses: string[];
  /** Epoch ms we last heard from it directly; 0 = never. */
  lastSeen: number;
  connected: boolean;
}

export interface MemberView extends MemberInfo {
  self: boolean;
  alive: boolean;
  /** While alive: since when without a break (epoch ms), as listings saw it (see `list`). */
  aliveSince?: number;
}

/**
 * Pure membership table. A member is alive first-hand while it is connected and was heard
 * within the TTL: a closed connection makes it not alive at once, a silent one after the TTL.
 * Before its connection is up, a member heard by presence datagram is alive first-hand for the
 * TTL after the last one.
 * It is alive second-hand while a member alive to us first-hand vouches for it (says it is
 * alive to *it* first-hand): a joining node sees the whole mesh alive through its first
 * connection, before it has connected to everyone, and two members that cannot reach each
 * other directly still see each other. Vouches are never passed on, so a dead member cannot
 * be kept alive by a loop of hearsay.
 */
export class MemberTable {
  private readonly members = new Map<string, MemberInfo>();
  private readonly aliveSince = new Map<string, number>();
  /** Subject → the members that vouch for it. */
  private readonly vouchers = new Map<string, Set<string>>();
  /** When members not connected were last heard by presence datagram (presence-udp.ts). */
  private readonly heardByDatagram = new Map<string, number>();
  private readonly selfId: string;
  private readonly ttlMs: number;

  constructor(self: { peerId: string; name: string; addresses: string[] }, ttlMs: number) {
    this.selfId = self.peerId;
    this.ttlMs = ttlMs;
    this.members.set(self.peerId, { ...self, lastSeen: 0, connected: true });
  }

  /** Records a member's name and addresses; true when the member was not known before. */
  learn(peerId: string, name: string | undefined, addresses: string[] | undefined): boolean {
    const existing = this.members.get(peerId);
    if (existing === undefined) {
      this.members.set(peerId, {
        peerId,
        name: name ?? '',
        addresses: addresses ?? [],
        lastSeen: 0,
        connected: false,
      });
      return true;
    }
    if (name !== undefined && name !== '') existing.name = name;
    if (addresses !== undefined && addresses.length > 0) existing.addresses = addresses;
    return false;
  }

  heard(peerId: string, nowMs: number): void {
    const member = this.members.get(peerId);
    if (member !== undefined) member.lastSeen = nowMs;
  }

  setConnected(peerId: string, connected: boolean, nowMs: number): void {
    const member = this.members.get(peerId);
    if (member === undefined) return;
    member.connected = connected;
    if (!connected) return;
    member.lastSeen = nowMs;
    // The connection takes over: its closing must end the member's liveness at once.
    this.heardByDatagram.delete(peerId);
  }

  /** A datagram from a member not connected yet: alive first-hand for a TTL, like a connection. */
  heardDatagram(peerId: string, nowMs: number): void {
    const member = this.members.get(peerId);
    if (member === undefined || member.connected) return;
    member.lastSeen = nowMs;
    this.heardByDatagram.set(peerId, nowMs);
  }

  setSelfAddresses(addresses: string[]): void {
    const self = this.members.get(this.selfId);
    if (self !== undefined) self.addresses = addresses;
  }

  get(peerId: string): MemberInfo | undefined {
    return this.members.get(peerId);
  }

  has(peerId: string): boolean {
    return this.members.has(peerId);
  }

  /** A member's word on a subject: alive to it first-hand, or no longer. */
  vouch(voucher: string, subject: string, alive: boolean): void {
    if (subject === this.selfId || subject === voucher) return;
    const set = this.vouchers.get(subject);
    if (alive) {
      if (set === undefined) this.vouchers.set(subject, new Set([voucher]));
      else set.add(voucher);
    } else {
      set?.delete(voucher);
    }
  }

  /** Everything a member vouches for, at once (its hello): earlier vouches it lacks are void. */
  replaceVouches(voucher: string, aliveSubjects: string[]): void {
    this.forgetVoucher(voucher);
    for (const subject of aliveSubjects) this.vouch(voucher, subject, true);
  }

  /** A member we lost: its vouches go with it (it may return with another view). */
  forgetVoucher(voucher: string): void {
    for (const set of this.vouchers.values()) set.delete(voucher);
  }

  /** Alive to us ourselves: connected and heard within the TTL, or heard by datagram within it. */
  isAliveFirstHand(peerId: string, nowMs: number): boolean {
    if (peerId === this.selfId) return true;
    const member = this.members.get(peerId);
    if (member === undefined) return false;
    if (member.connected) return nowMs - member.lastSeen <= this.ttlMs;
    return nowMs - (this.heardByDatagram.get(peerId) ?? -Infinity) <= this.ttlMs;
  }

  isAlive(peerId: string, nowMs: number): boolean {
    return this.isAliveFirstHand(peerId, nowMs) || this.liveVoucher(peerId, nowMs) !== undefined;
  }

  /** The freshest member alive to us first-hand that vouches for the subject. */
  liveVoucher(subject: string, nowMs: number): MemberInfo | undefined {
    let freshest: MemberInfo | undefined;
    for (const voucher of this.vouchers.get(subject) ?? []) {
      if (!this.isAliveFirstHand(voucher, nowMs)) continue;
      const member = this.members.get(voucher);
      if (member !== undefined && (freshest === undefined || member.lastSeen > freshest.lastSeen)) {
        freshest = member;
      }
    }
    return freshest;
  }

  /**
   * Every member, self included, sorted by name then peer id. A member alive second-hand was
   * last seen when we last heard its voucher. Each listing also notes since when each member is
   * alive (`aliveSince`): presence lists the members on every change, so that is when it began.
   */
  list(nowMs: number): MemberView[] {
    return [...this.members.values()]
      .map((member) => {
        const self = member.peerId === this.selfId;
        const firstHand = this.isAliveFirstHand(member.peerId, nowMs);
        const voucher = firstHand ? undefined : this.liveVoucher(member.peerId, nowMs);
        const alive = firstHand || voucher !== undefined;
        const since = alive ? (this.aliveSince.get(member.peerId) ?? nowMs) : undefined;
        if (since === undefined) this.aliveSince.delete(member.peerId);
        else this.aliveSince.set(member.peerId, since);
        return {
          ...member,
          lastSeen: self ? nowMs : Math.max(member.lastSeen, voucher?.lastSeen ?? 0),
          self,
          alive,
          ...(since === undefined ? {} : { aliveSince: since }),
        };
      })
      .sort((a, b) => compareCodeUnits(a.name, b.name) || compareCodeUnits(a.peerId, b.peerId));
  }

  /** Members other than self, for dialling and announcements. */
  others(): MemberInfo[] {
    return [...this.members.values()].filter((member) => member.peerId !== this.selfId);
  }
}

/** Plain code-unit order: `localeCompare` would load ICU's collation data (~8 MiB) into every daemon. */
function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
