// The shared domain objects every capability works through: one FHIR store (the one write path, with its
// write interceptors) and the access service. Built once per process by createDomain.
import { fhirStoreFor, type FhirStore } from '../fhir/store/index.ts';
import type { AccessService } from '../access/service.ts';
import { HistoryService } from '../history/service.ts';
import { loadHistoryConfig, type HistoryConfig } from '../history/config.ts';
import { UpiService } from '../upi/service.ts';
import { SubscriptionService } from '../subscriptions/service.ts';
import { loadSubscriptionsConfig, type SubscriptionsConfig } from '../subscriptions/config.ts';
import type { Services } from './services.ts';

export interface Domain {
  store: FhirStore;
  access: AccessService;
  history: HistoryService;
  upi: UpiService;
  subscriptions: SubscriptionService;
}

export interface DomainOptions {
  history?: Partial<HistoryConfig>;
  subscriptions?: Partial<SubscriptionsConfig>;
}

// One domain per Services object: the store is shared per Services (fhirStoreFor), so building a second domain
// on it would register every write interceptor twice.
const domains = new WeakMap<Services, Domain>();

export function createDomain(services: Services, access: AccessService, options: DomainOptions = {}): Domain {
  const existing = domains.get(services);
  if (existing) {
    if (existing.access !== access) throw new Error('createDomain: this Services object already has a domain with another access service');
    return existing;
  }
  const store = fhirStoreFor(services);
  // The UPI stamps every Patient with its UPID and every patient-scoped resource with the extension, in the
  // write's own transaction.
  const upi = new UpiService(services.clock, undefined, store);
  store.addWriteInterceptor(upi.interceptor);
  // Grant-access AuditEvents go through the same store (and its interceptors).
  access.auditStore = store;
  const history = new HistoryService(services.db, services.clock, store, { ...loadHistoryConfig(), ...options.history });
  // Subscriptions record refresh triggers (appointments, discharges, dispenses, fixed demographics) in the write's transaction.
  const subscriptions = new SubscriptionService(services.db, services.clock, store, history, { ...loadSubscriptionsConfig(), ...options.subscriptions });
  store.addWriteInterceptor(subscriptions.interceptor);
  const domain: Domain = { store, access, upi, history, subscriptions };
  domains.set(services, domain);
  return domain;
}
