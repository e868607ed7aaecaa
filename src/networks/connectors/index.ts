export * from './types.ts';
export { httpEhrConnector, httpPharmacyConnector, type HttpConnectorOptions } from './http.ts';
