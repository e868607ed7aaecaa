// The HTTP capabilities mounted on the app, in order. Each registers its own routes.
import type { FastifyInstance } from 'fastify';
import type { Services } from './services.ts';

export async function capabilityPlugins(_services: Services): Promise<((app: FastifyInstance) => Promise<void>)[]> {
  return [];
}
