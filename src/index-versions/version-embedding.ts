import { embedderSchema } from '../config/config-schema.js';
import type { SqlExecutor } from '../db/database.js';
import type { EmbeddingProfile, EmbeddingProfiles } from '../embedders/embedding-profile.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { embedderMismatch, type IndexRecord } from './index-catalog.js';

/**
 * The embedding profile an index version is written and searched with. The configured
 * embedder's when it makes the same vectors (same model and dimensions: its operational settings,
 * such as batch size or endpoint, are the config's to change). Otherwise the one made from the
 * embedder config recorded with the version, as while a model change is under way. A version
 * recorded before configs were kept (schema 9) for a model the config no longer names has none
 * here, and the error says why.
 */
export async function versionEmbedding(
  db: SqlExecutor,
  record: IndexRecord,
  configured: EmbeddingProfile,
  profiles: EmbeddingProfiles,
): Promise<EmbeddingProfile | VectorsyncError> {
  const sameModel =
    record.embedderModel === configured.embedder.modelId &&
    record.dimensions === configured.embedder.dimensions;
  if (sameModel) {
    if (record.embedderConfig === null)
      await db.query(
        'UPDATE vectorsync.indexes SET embedder_config = $2 WHERE id = $1 AND embedder_config IS NULL',
        [record.id, configured.config],
      );
    return configured;
  }
  if (record.embedderConfig === null) return embedderMismatch(record, configured.embedder);
  // Parsed again: defaults added by a later version of vectorsync fill in what it did not record.
  const parsed = embedderSchema.safeParse(record.embedderConfig);
  if (!parsed.success) {
    return new VectorsyncError(
      ErrorCode.EmbedderMismatch,
      `collection "${record.collection}": index ${record.location} records an embedder config this version of vectorsync cannot read (${parsed.error.issues[0]?.message ?? 'invalid'}); run the vectorsync version that built it, or rebuild the index with \`vectorsync reembed --collection ${record.collection}\``,
      { details: { collection: record.collection, index: record.location } },
    );
  }
  const profile = profiles.of(parsed.data, record.location);
  if (
    profile.embedder.modelId !== record.embedderModel ||
    profile.embedder.dimensions !== record.dimensions
  ) {
    return new VectorsyncError(
      ErrorCode.EmbedderMismatch,
      `collection "${record.collection}": index ${record.location} was built with ${record.embedderModel} (${record.dimensions} dimensions) but its recorded embedder config now makes ${profile.embedder.modelId} (${profile.embedder.dimensions} dimensions); rebuild it with \`vectorsync reembed --collection ${record.collection}\``,
      {
        details: {
          collection: record.collection,
          indexModel: record.embedderModel,
          recordedConfigModel: profile.embedder.modelId,
        },
      },
    );
  }
  return profile;
}
