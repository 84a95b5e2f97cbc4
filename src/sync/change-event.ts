/** A captured change: "this source row changed" (the row itself is re-read when applied). */
export interface ChangeEvent {
  /** Outbox id (or stream position in other modes), for results and logs. */
  eventId: string;
  collection: string;
  tenant: string;
  sourceId: string;
  op: 'upsert' | 'delete' | 'truncate';
  /** Version at capture time: the written version, or the deleted one. */
  sourceVersion: number | null;
}

export type EventOutcome =
  | { status: 'applied' | 'skipped' }
  | { status: 'failed'; error: Error; code: string; transient: boolean };
