// Connectors talk to external networks. Their results classify every failure the way spec/002 does:
// fatal (network unreachable, demographic rejection) vs not fatal (no data, a 404 on a listed document).

export type NetworkService = 'commonwell' | 'carequality' | 'surescripts' | 'quest';

export interface PatientDemographics {
  given: string;
  family: string;
  birthDate: string;
  gender: string;
  line: string;
  city: string;
  state: string;
  postalCode: string;
  phone?: string;
  email?: string;
}

export class ConnectorError extends Error {
  constructor(
    /** unreachable: could not connect / timeout / 5xx; rejected: the network rejected the demographics; protocol: an answer we could not understand */
    readonly kind: 'unreachable' | 'rejected' | 'protocol',
    message: string,
  ) {
    super(message);
  }
  /** spec/002: all three are fatal for the connector */
  get fatal(): boolean {
    return true;
  }
}

export interface DiscoveredPerson {
  /** the network's id for the person */
  networkPatientId: string;
  score: number;
  /** the network's identifier (system|value) for the person, fed to the UPI as a confirmed identity */
  identifier?: { system: string; value: string };
}

export interface DocumentListing {
  id: string;
  url: string;
  contentType: string;
  typeCode?: string;
  typeDisplay?: string;
  date?: string;
}

export type RetrievedDocument =
  | { found: true; id: string; contentType: string; content: string }
  | { found: false; id: string; status: number };

export interface EhrConnector {
  service: NetworkService;
  /** 0 candidates = no data (not fatal); an ambiguous answer yields no confident match */
  discover(patient: PatientDemographics): Promise<DiscoveredPerson | null>;
  listDocuments(person: DiscoveredPerson): Promise<DocumentListing[]>;
  retrieve(doc: DocumentListing): Promise<RetrievedDocument>;
}

export type PharmacyHistory =
  | { found: true; xml: string; messageId: string }
  | { found: false; reason: string };

export interface PharmacyConnector {
  service: NetworkService;
  medicationHistory(patient: PatientDemographics, prescriberNpi: string, messageId: string): Promise<PharmacyHistory>;
}
