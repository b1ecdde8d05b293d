import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream';

/**
 * @chainsafe/libp2p-yamux 8 answers every data frame it receives with a window update, so each
 * small message (a keepalive, a gossip frame, a presence word) costs a second frame, encryption
 * and syscall going back. go-yamux and the yamux spec's reference implementation send one only
 * once the remote has used half the window; this restores that rule. Updates that carry flags
 * (opening or accepting a stream) and those of a paused stream still go through unchanged.
 */
interface WindowState {
  state: StreamState;
  recvWindow: number;
  recvWindowCapacity: number;
}

const FLAG_CARRYING_STATES = new Set([StreamState.Init, StreamState.SYNReceived, StreamState.Paused]);
// eslint-disable-next-line @typescript-eslint/unbound-method -- only ever called with .call(stream)
const sendWindowUpdate = YamuxStream.prototype.sendWindowUpdate;

YamuxStream.prototype.sendWindowUpdate = function sendWindowUpdateAtHalf(this: YamuxStream): void {
  const stream = this as unknown as WindowState;
  if (!FLAG_CARRYING_STATES.has(stream.state) && stream.recvWindowCapacity > stream.recvWindow / 2) return;
  sendWindowUpdate.call(this);
};
