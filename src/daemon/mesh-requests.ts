import { lpStream } from '@libp2p/utils';
import type { Mesh } from '../mesh/index.ts';
import type { MeshRequests } from '../roles/index.ts';

const REQUEST_TIMEOUT_MS = 15_000;
const MAX_MESSAGE_BYTES = 1024 * 1024;

/** One request, one response, over a stream of `protocol` between admitted members. */
export function meshRequests(mesh: Mesh, protocol: string): MeshRequests {
  return {
    async fetchFromPeer(peerId, request, signal) {
      const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
      const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
      const stream = await mesh.dialProtocol(peerId, protocol, combined);
      const framed = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES });
      await framed.write(request, { signal: combined });
      const response = (await framed.read({ signal: combined })).subarray();
      await stream.close().catch(() => undefined);
      return response;
    },
    serve(handler) {
      void mesh.handle(protocol, async (stream, from) => {
        const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
        try {
          const framed = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES });
          const request = (await framed.read({ signal })).subarray();
          await framed.write(await handler(from, request), { signal });
          await stream.close();
        } catch (error) {
          stream.abort(error instanceof Error ? error : new Error(String(error)));
        }
      });
      return () => void mesh.unhandle(protocol).catch(() => undefined);
    },
  };
}
