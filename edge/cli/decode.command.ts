import { createHmac, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Argument, Command, InvalidArgumentError, Option } from 'commander'
import { parseSensorTopic, type DecodeContext, type DecodeResult } from '../contracts/index.ts'
import { decodeMeraki } from '../sources/decoders/meraki.decoder.ts'
import { decodeWifiBatch } from '../sources/decoders/wifi-batch.decoder.ts'

/**
 * `store-edge decode <kind> <payload>`: run one payload through the edge's own decoder and print
 * what the edge would make of it. For firmware developers checking what their device sends, and
 * for support reading a captured message. Exit 0 = nothing rejected, 1 = something rejected,
 * 2 = usage error.
 */

export const DECODE_KINDS = ['ble', 'wifi', 'espresense', 'omg', 'meraki', 'parking'] as const
export type DecodeKind = (typeof DECODE_KINDS)[number]

/** The process edges of the command, replaceable so tests can run it in-process. */
export interface DecodeIo {
  stdout(text: string): void
  stderr(text: string): void
  readStdin(): Promise<string>
  readFile(path: string): string
  /** Result exit code (0/1): set, not exited, so stdout drains first. */
  setExitCode(code: number): void
  /** Usage errors (2) and --help (0). */
  exit(code: number): never
  now(): number
}

const defaultIo: DecodeIo = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
  readStdin: async () => {
    const chunks: Buffer[] = []
    for await (const c of process.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer))
    return Buffer.concat(chunks).toString('utf8')
  },
  readFile: (p) => readFileSync(p, 'utf8'),
  setExitCode: (c) => {
    process.exitCode = c
  },
  exit: (c) => process.exit(c),
  now: () => Date.now(),
}

export const CLI_HASH_NOTE =
  'MAC identities are hashed with a random salt made for this run: they differ on every run and never match the ids the edge computes.'

const USAGE = 'store-edge.usage'

function positiveInt(name: string) {
  return (raw: string): number => {
    const n = Number(raw)
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer.`)
    return n
  }
}

export function decodeCommand(ioOverrides: Partial<DecodeIo> = {}): Command {
  const io: DecodeIo = { ...defaultIo, ...ioOverrides }
  const cmd = new Command('decode')
    .description('Decode one sensor payload with the edge decoders and print the sightings (gate events for parking) and rejections as JSON.')
    .addArgument(new Argument('<kind>', 'payload format').choices(DECODE_KINDS))
    .argument('<payload>', 'inline JSON, @path to read a file, or - to read stdin')
    .option('--topic <topic>', 'MQTT topic it arrived on: required for espresense (espresense/devices/{beaconId}/{room}) and omg ({base}/{gateway}/BTtoMQTT/{mac}); optional for ble/wifi/parking (sensors/{deviceId}/{kind})')
    .addOption(new Option('--max-skew-ms <ms>', 'largest accepted distance between payload timestamps and now').default(600_000).argParser(positiveInt('--max-skew-ms')))
    .addOption(new Option('--max-batch <n>', 'largest accepted batch').default(500).argParser(positiveInt('--max-batch')))
    .showHelpAfterError('(run "store-edge decode --help" for usage)')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    // Every error commander raises here is a usage error: exit 2 (help and version exit 0).
    .exitOverride((err) => io.exit(err.exitCode === 0 ? 0 : 2))

  const usage = (message: string): never => cmd.error(`store-edge decode: ${message}`, { exitCode: 2, code: USAGE })

  cmd.action(async (kind: DecodeKind, payloadArg: string, opts: { topic?: string; maxSkewMs: number; maxBatch: number }) => {
    let deviceId = 'cli'
    let fromTopic = ''
    const topic = opts.topic
    if (kind === 'espresense' || kind === 'omg') {
      if (!topic) return usage(`--topic is required for ${kind}: ${kind === 'espresense' ? 'espresense/devices/{beaconId}/{room}' : '{base}/{gateway}/BTtoMQTT/{mac}'}`)
      const t = parseSensorTopic(topic)
      if (t?.kind === 'espresense' && kind === 'espresense') [deviceId, fromTopic] = [t.deviceId, t.beaconId]
      else if (t?.kind === 'omg' && kind === 'omg') [deviceId, fromTopic] = [t.deviceId, t.mac]
      else return usage(`--topic "${topic}" is not an ${kind} topic of the contract`)
    } else if (topic !== undefined) {
      if (kind === 'meraki') return usage('--topic does not apply to meraki (webhook posts have no topic)')
      const t = parseSensorTopic(topic)
      if (t?.kind !== kind) return usage(`--topic "${topic}" is not a sensors/{deviceId}/${kind} topic`)
      deviceId = t.deviceId
    }

    let payload: string
    if (payloadArg === '-') payload = await io.readStdin()
    else if (payloadArg.startsWith('@')) {
      try {
        payload = io.readFile(payloadArg.slice(1))
      } catch (err) {
        return usage(`cannot read ${payloadArg.slice(1)}: ${(err as Error).message}`)
      }
    } else payload = payloadArg

    const salt = randomBytes(16)
    const ctx: DecodeContext = {
      deviceId,
      hashMac: (mac) => 'h:' + createHmac('sha256', salt).update(mac).digest('hex').slice(0, 20),
      now: io.now(),
      maxSkewMs: opts.maxSkewMs,
      maxBatch: opts.maxBatch,
    }
    if (kind === 'parking') {
      // Gate events: plates as the edge normalises them (this output stays on the engineer's screen;
      // at the edge a plate goes no further than the car park, which hashes non-members' plates).
      const { decodeGateBatch } = await import('../sources/decoders/gate.decoder.ts')
      const r = decodeGateBatch(payload, ctx)
      io.stdout(JSON.stringify({ ok: r.rejects.length === 0, events: r.events, rejects: r.rejects }, null, 2) + '\n')
      io.setExitCode(r.rejects.length === 0 ? 0 : 1)
      return
    }
    const result = await decode(kind, payload, ctx, fromTopic)
    const rejects = result.rejects
    io.stdout(JSON.stringify({ ok: rejects.length === 0, sightings: result.sightings, rejects, note: CLI_HASH_NOTE }, null, 2) + '\n')
    io.setExitCode(rejects.length === 0 ? 0 : 1)
  })
  return cmd
}

/** BLE-family decoders load on demand: `decode wifi` does not pay for the advertisement parsers. */
async function decode(kind: Exclude<DecodeKind, 'parking'>, payload: string, ctx: DecodeContext, fromTopic: string): Promise<DecodeResult> {
  switch (kind) {
    case 'wifi':
      return decodeWifiBatch(payload, ctx)
    case 'meraki': {
      const { sightings, rejects } = decodeMeraki(payload, ctx)
      return { sightings, rejects }
    }
    case 'ble':
      return (await import('../sources/decoders/ble-batch.decoder.ts')).decodeBleBatch(payload, ctx)
    case 'espresense':
      return (await import('../sources/decoders/espresense.decoder.ts')).decodeEspresense(payload, ctx, fromTopic)
    case 'omg':
      return (await import('../sources/decoders/omg.decoder.ts')).decodeOmg(payload, ctx, fromTopic)
  }
}
