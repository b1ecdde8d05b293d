export { Mesh, type MeshOptions, type MeshStatus } from './mesh.ts';
export type { MemberView } from './member-table.ts';
export { loadOrCreateIdentity } from './identity.ts';
