import { MongoBulkWriteError, MongoError, MongoNetworkError, MongoNotConnectedError, MongoServerSelectionError } from 'mongodb';

/** A write whose unique key is taken: for the store's idempotent inserts, "already stored". */
export const DUPLICATE_KEY = 11000;

/** Server error codes of a node that is stepping down, shutting down or unreachable. */
const TRANSIENT_CODES = new Set([6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436]);

/** True for failures of reaching the database (down, unreachable, stepping down): retry later. */
export function isTransientMongoError(err: unknown): boolean {
  if (err instanceof MongoNetworkError || err instanceof MongoServerSelectionError || err instanceof MongoNotConnectedError) return true;
  if (err instanceof MongoBulkWriteError) {
    // A bulk write that never reached the server wraps the driver's error.
    const cause: unknown = err.errorResponse;
    return cause instanceof Error && cause !== err && isTransientMongoError(cause);
  }
  if (!(err instanceof MongoError)) return false;
  return err.hasErrorLabel('RetryableWriteError') || err.hasErrorLabel('ResetPool') || TRANSIENT_CODES.has(Number(err.code));
}

/** The database named in a connection string's path, if any. */
export function databaseOf(url: string): string | undefined {
  const name = /^mongodb(?:\+srv)?:\/\/[^/]*\/([^?]*)/.exec(url)?.[1];
  return name ? decodeURIComponent(name) : undefined;
}
