import { quoteIdent } from '../db/sql-identifier.js';
import { CheckCode, type CheckFinding } from './check-finding.js';
import type { PrivilegeContext } from './privilege-findings.js';

/** What logical replication needs of the role and the server, once for all CDC collections. */
export function cdcFindings(context: PrivilegeContext, collections: string[]): CheckFinding[] {
  const { database, config } = context;
  const role = quoteIdent(database.role);
  const users = `collection${collections.length > 1 ? 's' : ''} ${collections.join(', ')} (cdc)`;
  const findings: CheckFinding[] = [];
  if (!database.replication && !database.superuser)
    findings.push({
      severity: 'error',
      code: CheckCode.PrivilegeReplication,
      object: `role ${database.role}`,
      message: `role "${database.role}" has neither REPLICATION nor superuser: it can create no replication slot and stream no changes for ${users}`,
      hint: `ALTER ROLE ${role} REPLICATION (as a superuser); pg_hba.conf must also let it open replication connections to database ${database.database}`,
    });
  if (database.walLevel !== 'logical')
    findings.push({
      severity: 'error',
      code: CheckCode.WalLevelNotLogical,
      object: 'wal_level',
      message: `wal_level is ${database.walLevel}; logical replication (${users}) needs logical`,
      hint: 'ALTER SYSTEM SET wal_level = logical; then restart Postgres',
    });
  if (!context.cdc.slotExists && database.replicationSlotsUsed >= database.maxReplicationSlots)
    findings.push({
      severity: 'error',
      code: CheckCode.NoFreeReplicationSlot,
      object: `replication slot ${config.cdc.slot}`,
      message: `slot "${config.cdc.slot}" does not exist yet and all ${database.maxReplicationSlots} replication slots (max_replication_slots) are in use`,
      hint: 'drop an unused slot (pg_drop_replication_slot) or raise max_replication_slots and restart Postgres',
    });
  const publication = context.cdc.publication;
  if (publication && !publication.ownedByCurrentRole)
    findings.push({
      severity: 'error',
      code: CheckCode.PrivilegePublication,
      object: `publication ${config.cdc.publication}`,
      message: `publication "${config.cdc.publication}" belongs to "${publication.owner}"; role "${database.role}" may not add or remove its tables`,
      hint: `ALTER PUBLICATION ${quoteIdent(config.cdc.publication)} OWNER TO ${role}, or GRANT ${quoteIdent(publication.owner)} TO ${role}`,
    });
  if (!publication && !database.superuser && !database.createOnDatabase)
    findings.push({
      severity: 'error',
      code: CheckCode.PrivilegePublication,
      object: `publication ${config.cdc.publication}`,
      message: `publication "${config.cdc.publication}" does not exist and role "${database.role}" may not create it (no CREATE on database ${database.database})`,
      hint: `GRANT CREATE ON DATABASE ${quoteIdent(database.database)} TO ${role}`,
    });
  return findings;
}
