import { type CollectionDefinition, keyColumnNames } from '../config/collection-definition.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { decodeCanonicalId } from '../pipeline/canonical-id.js';

/**
 * The key column values a documents API id stands for. A composite key's id is its canonical
 * id (`acme,42`; `\,` and `\\` inside a part); anything else is refused before any SQL runs.
 */
export function documentKey(definition: CollectionDefinition, id: string): string[] {
  const parts = decodeCanonicalId(id, definition.keyColumns.length);
  if (!parts) {
    throw new VectorsyncError(
      ErrorCode.InvalidDocumentId,
      `document id "${id}" is not an id of collection "${definition.name}": its key is (${keyColumnNames(definition)}), so an id is ${definition.keyColumns.length} values joined by "," (write "\\," for a comma and "\\\\" for a backslash inside a value)`,
      {
        details: { collection: definition.name, id, key: definition.keyColumns.map((column) => column.name) },
      },
    );
  }
  return parts;
}
