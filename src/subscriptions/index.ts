export { SubscriptionService, enrollmentJson, packageJson, refreshJson, initialProviders, PACKAGE_TYPE, ENROLLMENT_TYPE, type EnrollmentRow, type PackageRow, type RefreshRow } from './service.ts';
export { RefreshEngine, type RunResult } from './engine.ts';
export { RefreshWorker, subscriptionWorker } from './worker.ts';
export { registerSubscriptionRoutes } from './http.ts';
export { loadSubscriptionsConfig, type SubscriptionsConfig } from './config.ts';
export * from './rules.ts';
