// ZusHooks: hook configuration API, outbox dispatcher, signed deliveries with retries and dead letters.
export { registerHookRoutes, hookJson, HOOK_TYPE, DELIVERY_TYPE } from './http.ts';
export { hookWorker, createHookWorker, type HookWorker } from './worker.ts';
export { hookConfig, configureHooks, loadHookConfig, type HookConfig } from './config.ts';
export { DELIVERY_QUEUE, deliveryQueue } from './delivery.ts';
export { Dispatcher, type DispatchResult } from './dispatcher.ts';
export { buildMessage, sign, signatureHeaders, HOOK_SOURCE, type DeliveryPayload, type HookMessage } from './payload.ts';
export { refusedRange, checkUrl, checkResolvedUrl, TargetRefusedError } from './ssrf.ts';
export { HookStore, newSigningSecret, type HookRow } from './store.ts';
