import { runMain } from '@shop/platform';
import { schema } from './config';
import { createService } from './service';

runMain({ name: 'gateway', about: 'the REST edge of the shop.', schema, create: createService });
