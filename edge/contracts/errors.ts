/**
 * Stable error codes, one catalogue for the edge, the gateway, the CLI and the docs.
 * A code is never reused for another meaning; add new ones at the end of their group.
 * `status` is the HTTP status where the code can surface over HTTP.
 */
export const ErrorCodes = {
  // payload / decoder rejections
  STORE_EDGE_ERR_PAYLOAD_NOT_JSON: { status: 400, message: 'payload is not valid JSON' },
  STORE_EDGE_ERR_PAYLOAD_TOO_LARGE: { status: 413, message: 'payload exceeds the size limit' },
  STORE_EDGE_ERR_SCHEMA: { status: 400, message: 'payload does not match its schema' },
  STORE_EDGE_ERR_SCHEMA_VERSION: { status: 400, message: 'unsupported schema version v' },
  STORE_EDGE_ERR_ITEM_SCHEMA: { status: 400, message: 'one item of a batch does not match its schema' },
  STORE_EDGE_ERR_BAD_MAC: { status: 400, message: 'not a valid 48-bit MAC address' },
  STORE_EDGE_ERR_BAD_RSSI: { status: 400, message: 'RSSI missing or outside -127..20 dBm' },
  STORE_EDGE_ERR_BAD_ADV: { status: 400, message: 'malformed BLE advertisement (hex or AD structure)' },
  STORE_EDGE_ERR_TIMESTAMP: { status: 400, message: 'timestamp missing, malformed or too far from now' },
  STORE_EDGE_ERR_BATCH_TOO_LARGE: { status: 413, message: 'batch has more items than allowed' },
  STORE_EDGE_ERR_TOPIC: { status: 400, message: 'topic is not part of the contract' },
  STORE_EDGE_ERR_UNKNOWN_SENSOR: { status: 400, message: 'sensor is not configured for this store' },
  STORE_EDGE_ERR_WEBHOOK_SECRET: { status: 403, message: 'webhook shared secret does not match' },
  STORE_EDGE_ERR_WEBHOOK_TYPE: { status: 400, message: 'webhook type is not supported' },
  // broker policy
  STORE_EDGE_ERR_AUTH_FAILED: { status: 401, message: 'bad username or password' },
  STORE_EDGE_ERR_CLIENT_ID: { status: 400, message: 'client id must equal the device id' },
  STORE_EDGE_ERR_ACL_PUBLISH: { status: 403, message: 'publish outside the device ACL' },
  STORE_EDGE_ERR_ACL_SUBSCRIBE: { status: 403, message: 'subscribe outside the device ACL' },
  STORE_EDGE_ERR_PACKET_TOO_LARGE: { status: 413, message: 'MQTT packet exceeds the size limit' },
  STORE_EDGE_ERR_RATE_LIMITED: { status: 429, message: 'publish rate limit exceeded' },
  STORE_EDGE_ERR_TOO_MANY_CONNECTIONS: { status: 503, message: 'connection limit reached' },
  STORE_EDGE_ERR_AUTH_BACKOFF: { status: 429, message: 'too many failed logins for this device from this address; try again later' },
  // configuration and HTTP
  STORE_EDGE_ERR_CONFIG_INVALID: { status: 500, message: 'configuration is invalid' },
  STORE_EDGE_ERR_VALIDATION: { status: 400, message: 'request does not match its schema' },
  STORE_EDGE_ERR_NOT_FOUND: { status: 404, message: 'not found' },
  STORE_EDGE_ERR_INTERNAL: { status: 500, message: 'internal error' },
  // central gateway
  STORE_EDGE_ERR_UNAUTHENTICATED: { status: 401, message: 'not logged in (or the session expired)' },
  STORE_EDGE_ERR_FORBIDDEN: { status: 403, message: 'your role or store scope does not allow this' },
  STORE_EDGE_ERR_LOGIN_FAILED: { status: 401, message: 'wrong username or password' },
  STORE_EDGE_ERR_LOGIN_BACKOFF: { status: 429, message: 'too many failed logins; try again later' },
  STORE_EDGE_ERR_CONFLICT: { status: 409, message: 'already exists' },
  STORE_EDGE_ERR_TSDB_UNAVAILABLE: { status: 503, message: 'the time-series database is not configured or not reachable' },
  STORE_EDGE_ERR_STORE_MISMATCH: { status: 400, message: 'payload storeId differs from the topic store' },
  STORE_EDGE_ERR_BROKER_UNAVAILABLE: { status: 503, message: 'the central MQTT broker is not reachable' },
  // geofences, triggers, coupons, car park
  STORE_EDGE_ERR_BAD_RULE: { status: 400, message: 'campaign rule is invalid' },
  STORE_EDGE_ERR_BAD_GEOFENCE: { status: 400, message: 'geofence is invalid' },
  STORE_EDGE_ERR_BAD_PLATE: { status: 400, message: 'not a valid Chinese licence plate' },
  STORE_EDGE_ERR_BAD_LOCATION: { status: 400, message: 'location fix rejected (accuracy, speed or time)' },
  STORE_EDGE_ERR_COUPON_INVALID: { status: 400, message: 'coupon code is malformed or its signature does not verify' },
  STORE_EDGE_ERR_COUPON_EXPIRED: { status: 410, message: 'coupon has expired' },
  STORE_EDGE_ERR_COUPON_REDEEMED: { status: 409, message: 'coupon was already redeemed' },
  STORE_EDGE_ERR_VERSION_CONFLICT: { status: 409, message: 'the record changed since you read it (version mismatch)' },
  // on-device models and inference
  STORE_EDGE_ERR_MODEL_MANIFEST: { status: 500, message: 'model manifest is invalid' },
  STORE_EDGE_ERR_MODEL_MISSING: { status: 503, message: 'model file is missing; run `store-edge models build`' },
  STORE_EDGE_ERR_MODEL_CORRUPT: { status: 500, message: 'model file does not match its manifest sha256; rebuild it with `store-edge models build --force`' },
  STORE_EDGE_ERR_MODEL_MISMATCH: { status: 500, message: 'model inputs or outputs do not match its manifest' },
  STORE_EDGE_ERR_MODEL_SOURCE: { status: 500, message: 'model source package is missing or not the version the manifest names' },
  STORE_EDGE_ERR_MODEL_CONVERT: { status: 500, message: 'model conversion failed' },
  STORE_EDGE_ERR_MODEL_PARITY: { status: 500, message: 'converted model does not match the original within tolerance' },
  STORE_EDGE_ERR_BAD_FRAME: { status: 400, message: 'image or frame cannot be decoded or has unusable dimensions' },
  STORE_EDGE_ERR_INFERENCE: { status: 500, message: 'inference failed' },
  STORE_EDGE_ERR_INFERENCE_DROPPED: { status: 503, message: 'frame dropped: a newer frame from the same source replaced it in the queue' },
  STORE_EDGE_ERR_INFERENCE_STOPPED: { status: 503, message: 'the inference service is not running' },
  // cameras
  STORE_EDGE_ERR_CAMERA_CONFIG: { status: 400, message: 'camera configuration is invalid' },
  STORE_EDGE_ERR_CAMERA_UNREACHABLE: { status: 502, message: 'camera stream cannot be reached' },
  STORE_EDGE_ERR_CAMERA_STREAM: { status: 502, message: 'camera stream failed or ended' },
  STORE_EDGE_ERR_CAMERA_STALLED: { status: 504, message: 'camera stream delivered no frame for too long' },
  STORE_EDGE_ERR_CAMERA_DECODER: { status: 500, message: 'the video decoder (ffmpeg) is missing or failed to start' },
  STORE_EDGE_ERR_CAMERA_NOT_FOUND: { status: 404, message: 'no such camera' },
  STORE_EDGE_ERR_CAMERA_STREAM_NOT_FOUND: { status: 502, message: 'the camera answered that the stream path does not exist (404)' },
  STORE_EDGE_ERR_CAMERA_AUTH: { status: 502, message: 'the camera refused the credentials in the stream URL (401/403)' },
  STORE_EDGE_ERR_CAMERA_BAD_STREAM: { status: 502, message: 'the stream cannot be decoded (no video, corrupt data or an unknown format)' },
  STORE_EDGE_ERR_CAMERA_VIEW_OFF: { status: 503, message: 'camera view is not configured on this edge' },
  STORE_EDGE_ERR_CAMERA_TOKEN: { status: 401, message: 'camera token missing or wrong' },
  STORE_EDGE_ERR_CAMERAS_UNAVAILABLE: { status: 503, message: 'the camera module is not running' },
  STORE_EDGE_ERR_UNBLUR_OFF: { status: 403, message: 'this edge serves blurred snapshots only' },
  STORE_EDGE_ERR_EDGE_UNREACHABLE: { status: 502, message: "the store's edge did not answer as expected" },
  STORE_EDGE_ERR_SNAPSHOT_NOT_FOUND: { status: 404, message: 'no such snapshot (snapshots live in memory at the edge and age out)' },
  STORE_EDGE_ERR_GALLERY: { status: 500, message: 'member face gallery cannot be read (wrong key or tampered file); it starts empty' },
} as const satisfies Record<string, { status: number; message: string }>

export type ErrorCode = keyof typeof ErrorCodes

/** An error that carries a catalogue code; what the application logs and what HTTP answers. */
export class StoreEdgeError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  constructor(code: ErrorCode, detail?: string) {
    super(detail ? `${ErrorCodes[code].message}: ${detail}` : ErrorCodes[code].message)
    this.name = 'StoreEdgeError'
    this.code = code
    this.statusCode = ErrorCodes[code].status
  }
}
