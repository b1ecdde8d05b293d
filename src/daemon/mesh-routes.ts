import type { Mesh } from '../mesh/index.ts';
import type { ApiServer } from './api-server.ts';

export function registerMeshRoutes(api: ApiServer, mesh: Mesh): void {
  api.route('GET', '/status', () => Promise.resolve(mesh.status()));
  api.route('GET', '/peers', () => Promise.resolve(mesh.members()));
}
