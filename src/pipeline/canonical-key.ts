import { createHash } from 'node:crypto';

/** (collection, tenant, source primary key as text): the one identity of an indexed row. */
export interface CanonicalKey {
  collection: string;
  tenant: string;
  id: string;
}

/** Stable text form, unambiguous because each part is length-prefixed. */
export function formatCanonicalKey(key: CanonicalKey): string {
  return [key.collection, key.tenant, key.id].map((part) => `${part.length}:${part}`).join('|');
}

/** The namespace for vectorsync UUIDv5s: uuidv5(URL namespace, "https://vectorsync.dev/canonical-key"). */
export const VECTORSYNC_NAMESPACE = 'c1790aa1-39aa-5dea-868e-60485b650f2b';

/**
 * A deterministic RFC 4122 version-5 UUID for stores that need UUID point ids (Qdrant).
 * Same canonical key, same UUID, on every machine, forever.
 */
export function canonicalUuid(key: CanonicalKey, namespace = VECTORSYNC_NAMESPACE): string {
  return uuidV5(formatCanonicalKey(key), namespace);
}

export function uuidV5(name: string, namespace: string): string {
  const namespaceBytes = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  if (namespaceBytes.length !== 16) throw new Error(`invalid namespace UUID: ${namespace}`);
  const hash = createHash('sha1').update(namespaceBytes).update(name, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
