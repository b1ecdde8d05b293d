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
}

/**
 * Pure membership table. A member is alive while it is connected and was heard within the
 * TTL: a closed connection makes it not alive at once, a silent one after the TTL.
 */
export class MemberTable {
  private readonly members = new Map<string, MemberInfo>();
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
    if (connected) member.lastSeen = nowMs;
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

  isAlive(peerId: string, nowMs: number): boolean {
    if (peerId === this.selfId) return true;
    const member = this.members.get(peerId);
    return member !== undefined && member.connected && nowMs - member.lastSeen <= this.ttlMs;
  }

  /** Every member, self included, sorted by name then peer id. */
  list(nowMs: number): MemberView[] {
    return [...this.members.values()]
      .map((member) => ({
        ...member,
        lastSeen: member.peerId === this.selfId ? nowMs : member.lastSeen,
        self: member.peerId === this.selfId,
        alive: this.isAlive(member.peerId, nowMs),
      }))
      .sort((a, b) => a.name.localeCompare(b.name) || a.peerId.localeCompare(b.peerId));
  }

  /** Members other than self, for dialling and announcements. */
  others(): MemberInfo[] {
    return [...this.members.values()].filter((member) => member.peerId !== this.selfId);
  }
}
