import type { AedesPublishPacket } from 'aedes'
import { INGEST_SUBSCRIPTIONS } from '../contracts/index.ts'
import type { EdgeModule } from '../core/module.ts'
import type { BrokerModule } from '../broker/broker.module.ts'
import type { IngestPipeline } from './ingest.pipeline.ts'

/**
 * Feeds the embedded broker's sensor topics into the ingest pipeline through in-process
 * subscriptions (no extra network hop). The deliver callback runs after the message is decoded and
 * presence updated, so a QoS 1 PUBACK means the sighting was processed.
 */
export class IngestModule implements EdgeModule {
  readonly name = 'ingest'
  private readonly deliver = (packet: AedesPublishPacket, cb: () => void) => {
    try {
      this.pipeline.handle(packet.topic, packet.payload as Buffer)
    } finally {
      cb()
    }
  }

  constructor(
    private readonly broker: BrokerModule,
    private readonly pipeline: IngestPipeline,
  ) {}

  async start(): Promise<void> {
    await Promise.all(
      INGEST_SUBSCRIPTIONS.map((t) => new Promise<void>((resolve) => this.broker.aedes.subscribe(t, this.deliver, () => resolve()))),
    )
  }

  async stop(): Promise<void> {
    if (!this.broker.aedes || this.broker.aedes.closed) return
    await Promise.all(
      INGEST_SUBSCRIPTIONS.map((t) => new Promise<void>((resolve) => this.broker.aedes.unsubscribe(t, this.deliver, () => resolve()))),
    )
  }
}
