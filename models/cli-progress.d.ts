// The part of cli-progress (3.x, no bundled types) that models/build.ts uses.
declare module 'cli-progress' {
  export interface Options {
    format?: string
    hideCursor?: boolean
    clearOnComplete?: boolean
    stream?: NodeJS.WritableStream
  }
  export class SingleBar {
    constructor(opts: Options, preset?: unknown)
    start(total: number, start: number, payload?: Record<string, unknown>): void
    update(value: number, payload?: Record<string, unknown>): void
    stop(): void
  }
  export const Presets: { shades_classic: unknown }
  const cliProgress: { SingleBar: typeof SingleBar; Presets: typeof Presets }
  export default cliProgress
}
