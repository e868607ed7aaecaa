export * from './context.ts';
export * from './roles.ts';
export * from './policy.ts';
export { AccessService, type AccessSettings, type AppClientRow, type BuilderRow } from './service.ts';
export { getAccess, registerAccess } from './http.ts';
export { loadKeyRing, hashSecret, type KeyRing } from './keys.ts';
export { bootstrap } from './bootstrap.ts';
