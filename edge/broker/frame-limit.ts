import { Transform, type TransformCallback } from 'node:stream'

/**
 * A transport-level frame limit in front of the MQTT parser: it reads each packet's fixed header
 * (MQTT-2.2.3: Remaining Length is a variable byte integer of at most 4 bytes) and fails the stream
 * as soon as a packet announces more than `maxBytes`, before the parser buffers it. aedes bounds
 * in-flight counts but not bytes, so this is what stops a 256 MB PUBLISH from taking the memory.
 */
export class FrameTooLargeError extends Error {
  constructor(readonly size: number, readonly limit: number) {
    super(`MQTT packet of ${size} bytes exceeds the ${limit}-byte limit`)
    this.name = 'FrameTooLargeError'
  }
}

export class FrameLimiter extends Transform {
  /** Bytes of the current packet body still to pass through. */
  private remaining = 0
  /** Header parsing state: 0 = expect type byte, 1.. = reading remaining-length bytes. */
  private headerState = 0
  private length = 0
  private multiplier = 1

  constructor(private readonly maxBytes: number) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let i = 0
    const n = chunk.length
    while (i < n) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, n - i)
        this.remaining -= take
        i += take
        continue
      }
      if (this.headerState === 0) {
        this.headerState = 1
        this.length = 0
        this.multiplier = 1
        i++
        continue
      }
      const b = chunk[i++]!
      this.length += (b & 0x7f) * this.multiplier
      this.multiplier *= 128
      if (b & 0x80) {
        if (++this.headerState > 4) return cb(new Error('malformed MQTT remaining length (more than 4 bytes)'))
        continue
      }
      const total = this.length + 1 + this.headerState
      if (total > this.maxBytes) return cb(new FrameTooLargeError(total, this.maxBytes))
      this.headerState = 0
      this.remaining = this.length
    }
    cb(null, chunk)
  }
}
