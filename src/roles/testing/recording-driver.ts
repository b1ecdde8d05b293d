import type { K3sDriverPort, K3sStatus } from '../k3s-driver.ts';
import type { K3sSpec } from '../k3s-plan.ts';

/** TEST HELPER ONLY. */
/** Records what the service asks of k3s; a master "has" a token and kubeconfig once applied. */
export class RecordingDriver implements K3sDriverPort {
  readonly applied: Array<{ spec: K3sSpec; epoch: number }> = [];
  cleared = 0;
  private readonly token: string;
  constructor(token = 'K10test::server:secret') {
    this.token = token;
  }
  get last(): K3sSpec | undefined {
    return this.applied.at(-1)?.spec;
  }
  apply(spec: K3sSpec, epoch: number): Promise<void> {
    const last = this.applied.at(-1);
    if (last === undefined || JSON.stringify(last.spec) !== JSON.stringify(spec))
      this.applied.push({ spec, epoch });
    return Promise.resolve();
  }
  clear(): Promise<void> {
    this.cleared++;
    this.applied.length = 0;
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
  status(): K3sStatus {
    return this.last === undefined ? { state: 'idle' } : { state: 'ready', role: this.last.role };
  }
  readNodeToken(): Promise<string | undefined> {
    return Promise.resolve(this.last !== undefined && this.last.role !== 'worker' ? this.token : undefined);
  }
  readKubeconfig(): Promise<string | undefined> {
    return Promise.resolve(
      this.last !== undefined && this.last.role !== 'worker'
        ? 'clusters:\n- cluster:\n    server: https://127.0.0.1:6443\n'
        : undefined,
    );
  }
}
