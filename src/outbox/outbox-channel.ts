/**
 * The one NOTIFY channel of the outbox: everything that makes an event claimable (triggers,
 * enqueue, retries, repairs, released claims) notifies it, and every worker listens on it.
 * SQL cannot import it: enqueue_many (migration 000011) spells it out, and its test listens on
 * this constant, so the two cannot drift apart. Migrations 000001 and 000002 are history.
 */
export const OUTBOX_CHANNEL = 'vectorsync_outbox';

/** The channel as an SQL string literal, for statements that notify it. */
export const OUTBOX_CHANNEL_SQL = `'${OUTBOX_CHANNEL}'`;
