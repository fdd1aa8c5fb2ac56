import { startTelemetry } from '@shop/telemetry';

startTelemetry({ serviceName: 'orders' });
