import { join } from 'node:path';

/** The repository root (this file runs from tools/launcher/dist/src). */
export const root = join(__dirname, '..', '..', '..', '..');

/** turbo of the workspace (node_modules/.bin). */
export const turbo = join(root, 'node_modules', '.bin', 'turbo');

// kafkajs computes negative timeouts on Node >= 22 (harmless, clamped to 1 ms); keep the warning out of the logs.
export const NODE_FLAGS = ['--disable-warning=TimeoutNegativeWarning'];
