// The document worker entry when vectorsync runs from its TypeScript sources under tsx (npm test,
// `npx tsx src/cli/main.ts`). Worker threads do not inherit tsx's ESM hooks on Node 20
// (privatenumber/tsx#354), so this plain-JavaScript entry registers them in the thread, then
// loads the TypeScript worker. The compiled package uses dist/runtime/document-worker.js directly.
import { register } from 'tsx/esm/api';

register();
const { default: runDocumentTask } = await import('./document-worker.ts');
export default runDocumentTask;
