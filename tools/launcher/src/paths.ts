import { join } from 'node:path';

/** The repository root (this file runs from tools/launcher/dist/src). */
export const root = join(__dirname, '..', '..', '..', '..');

/** turbo of the workspace (node_modules/.bin). */
export const turbo = join(root, 'node_modules', '.bin', 'turbo');

// Node flags of the processes the launcher starts: none since kafkajs (whose timers emitted TimeoutNegativeWarning
// on Node >= 22) was replaced by @platformatic/kafka.
export const NODE_FLAGS: string[] = [];
