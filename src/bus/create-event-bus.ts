import type { ResolvedConfig } from '../config/resolve-config.js';
import type { Logger } from '../logger.js';
import type { EventBus } from './event-bus.js';
import { NatsEventBus } from './nats/nats-event-bus.js';

/** The configured event bus, or undefined when no collection publishes to one. */
export function createEventBus(config: ResolvedConfig, logger: Logger): EventBus | undefined {
  if (!config.bus) return undefined;
  const used = Object.values(config.collections).some((collection) => collection.sync.bus);
  if (!used) return undefined;
  switch (config.bus.provider) {
    case 'nats':
      return new NatsEventBus(config.bus, logger.child({ bus: 'nats' }));
  }
}
