import { pino, type Logger, type LoggerOptions } from 'pino'

export type { Logger }

/** The root logger. One child per module: `rootLogger.child({ module: 'presence' })`. */
export function createLogger(opts: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  }
  return opts.destination ? pino(options, opts.destination) : pino(options)
}
