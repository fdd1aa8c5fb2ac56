import { startTelemetry } from '@shop/telemetry';

startTelemetry({ serviceName: 'inventory' });
