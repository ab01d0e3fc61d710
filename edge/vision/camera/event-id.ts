import { createHash } from 'node:crypto'

/** A camera event's id: deterministic over what identifies it, so a replay upstream is recognised. */
export const cameraEventId = (...parts: Array<string | number>): string => createHash('sha256').update(parts.join('|')).digest('base64url').slice(0, 32)
