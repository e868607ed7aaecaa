// The HTTP capabilities mounted on the app, in order. Each registers its own routes.
import type { FastifyInstance } from 'fastify';
import type { Services } from './services.ts';
import { registerFhirRoutes } from '../fhir/http/index.ts';
import type { Domain } from './domain.ts';
import { registerHookRoutes } from '../hooks/http.ts';
import { registerHistoryRoutes } from '../history/http.ts';
import { registerUpiRoutes } from '../upi/http.ts';
import { registerEverythingRoutes } from '../fhir/everything/index.ts';
import { registerSubscriptionRoutes } from '../subscriptions/http.ts';
import { registerFeedRoutes } from '../feeds/http.ts';

export async function capabilityPlugins(services: Services, domain: Domain): Promise<((app: FastifyInstance) => Promise<void>)[]> {
  return [
    async (app) => { await registerFhirRoutes(app, services, domain.store); },
    (app) => registerUpiRoutes(app, services, domain.store, domain.upi),
    (app) => registerEverythingRoutes(app, services, domain.store),
    (app) => registerHistoryRoutes(app, services, domain.history),
    (app) => registerSubscriptionRoutes(app, services, domain.subscriptions),
    (app) => registerHookRoutes(app, services),
    (app) => registerFeedRoutes(app, services, domain),
  ];
}
