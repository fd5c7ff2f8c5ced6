/**
 * The HTTP statuses the registry transport tells apart, by name: the one
 * place its modules learn what a number means. Answers are checked with
 * RegistryCore.expectStatus (a list of what is fine) or one of these sets.
 */

/** Redirects a GET or HEAD may follow (blob storage). */
export const REDIRECT_STATUS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
