#!/usr/bin/env node
// Entry point for the `tessera` CLI. TypeScript sources run through tsx's loader,
// so `npm ci && npm start` needs no separate build step.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv.slice(2));
