/**
 * Lists that most connections never fill (message fragments, queued frames,
 * agreed extensions, subscribers beyond the first...) start as one shared
 * empty array instead of an array each: at 10,000 connections every object
 * counts. It is frozen, so a push into it throws rather than corrupting every
 * connection's list; {@link append} gives a list its own array on its first
 * item.
 */
const EMPTY: readonly never[] = Object.freeze([]);

/** The shared empty list, as a list of `T`. */
export function emptyList<T>(): T[] {
  return EMPTY as unknown as T[];
}

/** `list` with `item` appended: the shared empty list is replaced by a one-element array of its own. */
export function append<T>(list: T[], item: T): T[] {
  if (list === (EMPTY as readonly unknown[])) return [item];
  list.push(item);
  return list;
}
