/** Schema version carried as `v` in every payload of ours. Bump on breaking changes only. */
export const SCHEMA_VERSION = 1 as const
