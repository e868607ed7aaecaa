export { HistoryService, type ProviderTask } from './service.ts';
export { HistoryRunner, systemContext, type Connectors } from './runner.ts';
export { historyWorker } from './worker.ts';
export { registerHistoryRoutes } from './http.ts';
export { loadHistoryConfig, type HistoryConfig } from './config.ts';
export { importDocument, SOURCE_TAG_SYSTEM, type SourceDocument } from './importer.ts';
export { isValidNpi, parseTargetDate, patientDemographics, CHART_BUILD_TYPES } from './rules.ts';
