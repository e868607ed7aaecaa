// The shared domain objects every capability works through: one FHIR store (the one write path, with its
// write interceptors) and the access service. Built once per process by createDomain.
import { FhirStore } from '../fhir/store/index.ts';
import type { AccessService } from '../access/service.ts';
import type { Services } from './services.ts';

export interface Domain {
  store: FhirStore;
  access: AccessService;
}

export function createDomain(services: Services, access: AccessService): Domain {
  return { store: new FhirStore(services), access };
}
