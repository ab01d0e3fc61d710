/** A gateway feature with a lifecycle: the constructor stores, start() takes resources, stop() gives them back. */
export interface GatewayModule {
  readonly name: string
  start(): Promise<void>
  stop(): Promise<void>
}
