import { versionTriggerName } from '../capture/version-trigger.js';
import type { CollectionConfig } from '../config/config-schema.js';
import { quoteIdent } from '../db/sql-identifier.js';
import { CheckCode, type CheckFinding } from './check-finding.js';
import { type SourceTableCatalog, tableLabel } from './source-table-catalog.js';

/**
 * What the shape of a source table means for sync and for tenant isolation: a tenant column
 * that allows NULL, a version column nothing in the database moves, a key unique across tenants.
 */
export function sourceTableFindings(
  collection: string,
  config: CollectionConfig,
  catalog: SourceTableCatalog,
): CheckFinding[] {
  return [
    ...tenantColumnFindings(collection, config, catalog),
    ...versionFindings(collection, config, catalog),
    ...globalKeyFindings(collection, config, catalog),
  ];
}

/** The configured key columns (one today; composite keys will list several). */
export function keyColumns(config: Pick<CollectionConfig, 'primaryKey'>): string[] {
  return [config.primaryKey].flat();
}

function tenantColumnFindings(
  collection: string,
  config: CollectionConfig,
  catalog: SourceTableCatalog,
): CheckFinding[] {
  const column = catalog.columns.get(config.tenantColumn);
  if (!column || column.notNull) return [];
  const table = tableLabel(catalog.table);
  return [
    {
      severity: 'warning',
      code: CheckCode.TenantColumnNullable,
      object: `${table}.${column.name}`,
      collection,
      message: `tenant column "${column.name}" of ${table} allows NULL: a row without a tenant cannot be indexed (it fails with TENANT_REQUIRED) and is never searchable`,
      hint: `ALTER TABLE ${table} ALTER COLUMN ${quoteIdent(column.name)} SET NOT NULL`,
    },
  ];
}

function versionFindings(
  collection: string,
  config: CollectionConfig,
  catalog: SourceTableCatalog,
): CheckFinding[] {
  const column = config.versionColumn;
  if (!catalog.columns.has(column)) return [];
  const table = tableLabel(catalog.table);
  const object = `${table}.${column}`;
  const ours = catalog.triggers.find((trigger) => trigger.name === versionTriggerName(collection));
  if (config.manageVersion) {
    if (ours) return [];
    return [
      {
        severity: 'info',
        code: CheckCode.VersionTriggerNotInstalled,
        object,
        collection,
        message: `manageVersion is set but trigger ${versionTriggerName(collection)} is not on ${table} yet`,
        hint: '`vectorsync setup` installs it',
      },
    ];
  }
  if (ours?.beforeUpdateOnEveryRow) return [];
  // The catalog cannot say what a trigger assigns; a BEFORE UPDATE row trigger whose body or
  // arguments name the column is the best evidence it can give (moddatetime(col), NEW.col := …).
  const candidates = catalog.triggers.filter((trigger) => trigger.beforeUpdateOnEveryRow);
  const mentions = (text: string) => new RegExp(`\\b${escapeRegExp(column)}\\b`, 'i').test(text);
  if (candidates.some((trigger) => trigger.args.some(mentions) || mentions(trigger.functionSource)))
    return [];
  const examined =
    candidates.length === 0
      ? `${table} has no enabled BEFORE UPDATE row trigger`
      : `none of the BEFORE UPDATE row triggers of ${table} (${candidates.map((t) => t.name).join(', ')}) mentions it`;
  return [
    {
      severity: 'warning',
      code: CheckCode.VersionNotMaintained,
      object,
      collection,
      message: `nothing in the database is seen to advance version column "${column}" on UPDATE: manageVersion is off and ${examined}. Unless every writer sets it, an UPDATE that leaves it unchanged cannot be ordered against other changes and can leave the index stale (only triggers were checked, not application code)`,
      hint: `set "manageVersion": true in collections.${collection} (vectorsync's trigger stamps the column from a sequence), or add a BEFORE INSERT OR UPDATE trigger that sets it`,
    },
  ];
}

function globalKeyFindings(
  collection: string,
  config: CollectionConfig,
  catalog: SourceTableCatalog,
): CheckFinding[] {
  const key = keyColumns(config);
  const tenant = config.tenantColumn;
  if (!catalog.columns.has(tenant) || key.includes(tenant)) return [];
  // A unique index over key columns alone, without the tenant, makes ids unique across tenants.
  const global = catalog.uniqueKeys.filter(
    (unique) => !unique.columns.includes(tenant) && unique.columns.every((column) => key.includes(column)),
  );
  if (global.length === 0) return [];
  const table = tableLabel(catalog.table);
  const described = global
    .map(
      (unique) =>
        `${unique.primary ? 'primary key' : 'unique index'} ${unique.name} (${unique.columns.join(', ')})`,
    )
    .join(', ');
  const generated = key.filter((column) => {
    const facts = catalog.columns.get(column);
    return facts?.identity || facts?.hasDefault;
  });
  return [
    {
      severity: 'warning',
      code: CheckCode.PrimaryKeyGlobal,
      object: `${table} ${described}`,
      collection,
      message: `the key of ${table} is unique across all tenants, not within one: a create through the documents API with an id that another tenant already uses fails with DOCUMENT_EXISTS, which tells the caller that the id exists in another tenant${generated.length > 0 ? ` (${generated.join(', ')} has a default, but a client may still send its own id)` : ''}`,
      hint: `use a tenant-scoped key, e.g. PRIMARY KEY (${[tenant, ...key].map(quoteIdent).join(', ')}), or ids the server generates (an identity or uuid default) that clients never choose`,
    },
  ];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
