import { runMain } from '@shop/platform';
import { schema } from './config';
import { createService } from './service';

runMain({
  name: 'orders',
  about: 'the Order aggregate and the order saga orchestrator',
  schema,
  create: createService,
});
