/** A captured change: "this source row changed" (the row itself is re-read when applied). */
export interface ChangeEvent {
  /** Outbox id (or stream position in other modes), for results and logs; events are passed in capture order. */
  eventId: string;
  collection: string;
  /** Null when the capture only knows the key (a CDC delete with the default replica identity). */
  tenant: string | null;
  sourceId: string;
  op: 'upsert' | 'delete' | 'truncate';
  /** Version at capture time: the written version, or the deleted one. */
  sourceVersion: number | null;
  /** When the change was captured (outbox insert, commit time): where lag is measured from. */
  capturedAt?: Date;
}

export type EventOutcome =
  | { status: 'applied' | 'skipped' }
  | { status: 'failed'; error: Error; code: string; transient: boolean };
