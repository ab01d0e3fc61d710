import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import mqttPacket from 'mqtt-packet'
import { FrameLimiter, FrameTooLargeError } from './frame-limit.ts'

function feed(limiter: FrameLimiter, chunks: Buffer[]): Promise<{ out: Buffer; err?: Error }> {
  return new Promise((resolve) => {
    const parts: Buffer[] = []
    limiter.on('data', (d: Buffer) => parts.push(d))
    limiter.on('error', (err) => resolve({ out: Buffer.concat(parts), err }))
    limiter.on('end', () => resolve({ out: Buffer.concat(parts) }))
    for (const c of chunks) limiter.write(c)
    limiter.end()
    limiter.resume()
  })
}

const publish = (size: number) =>
  mqttPacket.generate({ cmd: 'publish', topic: 'sensors/a/ble', payload: Buffer.alloc(size, 1), qos: 0, retain: false, dup: false, messageId: 0 } as mqttPacket.IPublishPacket)

describe('FrameLimiter', () => {
  it('passes packets under the limit through unchanged, however the stream is chunked', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 700 }), async (sizes, chunk) => {
        const all = Buffer.concat(sizes.map(publish))
        const chunks: Buffer[] = []
        for (let i = 0; i < all.length; i += chunk) chunks.push(all.subarray(i, i + chunk))
        const { out, err } = await feed(new FrameLimiter(4096), chunks)
        expect(err).toBeUndefined()
        expect(out.equals(all)).toBe(true)
      }),
      { numRuns: 200 },
    )
  })

  it('fails at the fixed header of an oversized packet', async () => {
    const big = publish(5000)
    const { err } = await feed(new FrameLimiter(4096), [big.subarray(0, 4)])
    expect(err).toBeInstanceOf(FrameTooLargeError)
    expect((err as FrameTooLargeError).size).toBe(big.length)
  })

  it('rejects a remaining length longer than 4 bytes (MQTT-2.2.3)', async () => {
    const { err } = await feed(new FrameLimiter(1 << 30), [Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])])
    expect(err?.message).toMatch(/remaining length/)
  })
})
