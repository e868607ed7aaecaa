export * from './types.ts';
export { httpEhrConnector, httpPharmacyConnector, type HttpConnectorOptions } from './http.ts';
export { httpLabConnector, type LabConnector, type LabHistory, type LabResult } from './lab.ts';
