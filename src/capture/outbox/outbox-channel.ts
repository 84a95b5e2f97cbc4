/**
 * The one NOTIFY channel of the outbox: everything that makes an event claimable (triggers,
 * enqueue, retries, repairs, released claims) notifies it, and every worker listens on it.
 * The SQL functions of migrations 000001 and 000002 spell it out: they are history.
 */
export const OUTBOX_CHANNEL = 'vectorsync_outbox';

/** The channel as an SQL string literal, for statements that notify it. */
export const OUTBOX_CHANNEL_SQL = `'${OUTBOX_CHANNEL}'`;
