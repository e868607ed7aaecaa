// The shared domain objects every capability works through: one FHIR store (the one write path, with its
// write interceptors) and the access service. Built once per process by createDomain.
import { FhirStore } from '../fhir/store/index.ts';
import type { AccessService } from '../access/service.ts';
import { HistoryService } from '../history/service.ts';
import { loadHistoryConfig, type HistoryConfig } from '../history/config.ts';
import type { Services } from './services.ts';

export interface Domain {
  store: FhirStore;
  access: AccessService;
  history: HistoryService;
}

export interface DomainOptions {
  history?: Partial<HistoryConfig>;
}

export function createDomain(services: Services, access: AccessService, options: DomainOptions = {}): Domain {
  const store = new FhirStore(services);
  return { store, access, history: new HistoryService(services.db, services.clock, store, { ...loadHistoryConfig(), ...options.history }) };
}
