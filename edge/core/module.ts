/**
 * A feature module: the constructor only stores what it is given; start() takes resources,
 * stop() gives every one of them back. Registered in the composition root (edge/app.ts).
 */
export interface EdgeModule {
  readonly name: string
  start(): Promise<void>
  stop(): Promise<void>
}

/** Publish on the edge's own broker (QoS 1): how modules hand results to MQTT without importing it. */
export type Publish = (topic: string, payload: unknown, retain?: boolean) => Promise<void>
