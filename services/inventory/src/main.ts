import { runMain } from '@shop/platform';
import { schema } from './config';
import { createService } from './service';

runMain({
  name: 'inventory',
  about: 'products, prices and stock reservations (gRPC + Kafka)',
  schema,
  create: createService,
});
